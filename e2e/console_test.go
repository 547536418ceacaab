package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/memory"
	"switchboard/storage/s3/s3test"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the console's screenshots to docs/console/")

// TestConsoleInBrowser drives the console in headless Chromium as a
// reviewer would, with recordings on local disk (streamed through the
// console's audio route) and in S3 (a redirect to a presigned link, which
// the Content-Security-Policy must allow).
func TestConsoleInBrowser(t *testing.T) {
	t.Run("LocalBlobs", func(t *testing.T) {
		blobs, _ := mustBlobs(t)
		in := servicetest.Start(t, servicetest.Options{Calls: memory.New(), Blobs: blobs})
		testConsoleInBrowser(t, in, nil)
	})
	t.Run("S3", func(t *testing.T) {
		f := s3test.New(t)
		in := servicetest.Start(t, servicetest.Options{Calls: mustPostgresCalls(t), Blobs: mustS3Store(t, f.Client(0))})
		testConsoleInBrowser(t, in, f)
	})
}

// reviewed is the call the browser test looks for.
type reviewed struct {
	call  twiliotest.Call
	other twiliotest.Call // another ended call, deleted through the console
	live  twiliotest.Call // a call still ringing
	audio []byte
	wav   time.Duration
}

// testConsoleInBrowser reviews calls in the console of in; s3, when not
// nil, is the bucket the recordings are in.
func testConsoleInBrowser(t *testing.T, in *servicetest.Instance, s3 *s3test.Server) {
	r := seedConsoleCalls(t, in)
	b := browser{t: t, ctx: mustBrowser(t)}

	// Signed out, the console sends people to sign in; a wrong token is
	// refused with a message next to the field.
	b.do("open the console", chromedp.Navigate(in.URL+"/console/calls"), chromedp.WaitVisible(chromedp.ID("token")))
	if url := b.location(); !strings.Contains(url, "/console/sign-in?next=") {
		t.Errorf("signed out, /console/calls went to %s, want the sign-in page", url)
	}
	b.accessible("the sign-in page")
	resp := b.load("sign in with a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), "not-the-token-0123456789"),
		chromedp.Submit(chromedp.ID("token")))
	if msg := b.text("#token-error"); resp.Status != http.StatusUnauthorized || !strings.Contains(msg, "not one of the service's API tokens") {
		t.Errorf("wrong token: status %d, message %q", resp.Status, msg)
	}

	// Signing in goes back to the page asked for.
	b.load("sign in",
		chromedp.SetValue(chromedp.ID("token"), servicetest.APIToken),
		chromedp.Submit(chromedp.ID("token")))
	if url := b.location(); !strings.HasSuffix(url, "/console/calls") {
		t.Errorf("after signing in: %s, want the call list", url)
	}
	if rows := b.count("table.calls tbody tr"); rows != 5 {
		t.Errorf("the call list shows %d calls, want 5", rows)
	}
	b.accessible("the call list")
	b.screenshots("calls")

	// The keyboard alone reaches the page: the first Tab lands on the
	// link that skips to the content.
	b.do("tab", chromedp.KeyEvent("\t"))
	if focused, err := chromedp.Run(b.timeout(), chromedp.Evaluate[string](`document.activeElement.textContent`)); err != nil || focused != "Skip to content" {
		t.Errorf("the first Tab focuses %q (%v), want the skip link", focused, err)
	}

	// Find the call by the last four digits of the caller's number.
	last4 := r.call.From[len(r.call.From)-4:]
	b.load("filter by number",
		chromedp.SendKeys(chromedp.ID("number"), last4),
		chromedp.Submit(chromedp.ID("number")))
	if rows, url := b.count("table.calls tbody tr"), b.location(); rows != 1 || !strings.Contains(url, "number="+last4) {
		t.Fatalf("filtering by %s: %d calls at %s, want 1", last4, rows, url)
	}
	b.load("open the call", chromedp.Click(chromedp.CSS("table.calls tbody a")))
	if url := b.location(); !strings.HasSuffix(url, "/console/calls/"+r.call.CallSID) {
		t.Errorf("the call's link went to %s", url)
	}

	// The transcript and the summary are the stored ones.
	stored := in.GetCall(r.call.CallSID)
	transcript := b.text("ol.transcript")
	for _, turn := range stored.Turns {
		if !strings.Contains(transcript, turn.Text) {
			t.Errorf("the transcript lacks turn %d (%s): %q", turn.Number, turn.Role, turn.Text)
		}
	}
	if summary := b.text("p.summary"); stored.Summary == nil || strings.TrimSpace(summary) != stored.Summary.Text {
		t.Errorf("summary shown %q, stored %+v", summary, stored.Summary)
	}
	b.accessible("a call")
	b.screenshots("call")

	// The recording plays: its length is known, time passes while it
	// plays, and it can be sought.
	audio, err := chromedp.Run(b.timeout(), chromedp.Evaluate[played](playAudio, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("playing the recording: %v", err)
	}
	if math.Abs(audio.Duration-r.wav.Seconds()) > 0.05 {
		t.Errorf("audio duration %.3f s, want %.3f s", audio.Duration, r.wav.Seconds())
	}
	if audio.Playing <= audio.Before {
		t.Errorf("currentTime did not advance while playing: %.3f then %.3f", audio.Before, audio.Playing)
	}
	if audio.Sought < r.wav.Seconds()-1 {
		t.Errorf("after seeking to %.1f s currentTime is %.3f", r.wav.Seconds()-0.5, audio.Sought)
	}
	if s3 != nil {
		// The browser followed the console's redirect to presigned
		// links, and sought with a range request.
		var presigned, ranged int
		for _, req := range s3.Seen("GetObject") {
			if req.Query.Get("X-Amz-Signature") != "" {
				presigned++
				if req.Header.Get("Range") != "" {
					ranged++
				}
			}
		}
		if presigned == 0 || ranged == 0 {
			t.Errorf("the browser fetched the audio from S3 by presigned link %d times, %d with a range; want both", presigned, ranged)
		}
	}

	testConsoleForms(t, b, in, r)
	testConsoleAssistantForm(t, b, in)

	// Sign out: the console asks to sign in again.
	b.load("sign out", chromedp.Click(chromedp.CSS("form.signout button")))
	b.load("the call list, signed out", chromedp.Navigate(in.URL+"/console/calls"))
	if url := b.location(); !strings.Contains(url, "/console/sign-in") {
		t.Errorf("after signing out, the call list went to %s", url)
	}
}

// played is what the audio element says once played (playAudio).
type played struct {
	Duration float64 `json:"duration"`
	Before   float64 `json:"before"`
	Playing  float64 `json:"playing"`
	Sought   float64 `json:"sought"`
}

// playAudio plays the call page's first recording and reports what the
// element says: its duration, currentTime before and while it plays, and
// after a seek near the end.
const playAudio = `(async () => {
  const a = document.querySelector("audio");
  const ready = (ev) => new Promise((ok, fail) => {
    a.addEventListener(ev, ok, { once: true });
    a.addEventListener("error", () => fail(new Error("audio error " + (a.error && a.error.code))), { once: true });
  });
  if (a.readyState < 1) { await ready("loadedmetadata"); }
  const before = a.currentTime;
  await a.play();
  // Playing, time advances; under load it may first wait for data, so
  // wait for it (up to 15 s) rather than for a fixed while.
  const deadline = Date.now() + 15000;
  while (a.currentTime < 0.2 && Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, 50));
  }
  const playing = a.currentTime;
  const seek = ready("seeked");
  a.currentTime = a.duration - 0.5;
  await seek;
  const sought = a.currentTime;
  a.pause();
  return { duration: a.duration, before, playing, sought };
})()`

// testConsoleForms checks the forms that change something: one posted
// without its CSRF token is refused and changes nothing; a deletion asks
// first and then does what the API's DELETE does; the live view drops a
// call that ends, without reloading.
func testConsoleForms(t *testing.T, b browser, in *servicetest.Instance, r reviewed) {
	t.Helper()
	b.load("the other call", chromedp.Navigate(in.URL+"/console/calls/"+r.other.CallSID))
	b.load("ask to delete it", chromedp.Click(chromedp.CSS("a.danger")))
	b.do("drop the CSRF token", chromedp.Evaluate[chromedp.Void](`document.querySelector("form.confirm input[name=csrf]").remove()`))
	resp := b.load("post the form without it", chromedp.Click(chromedp.CSS("form.confirm button")))
	if heading := b.text("#problem-title"); resp.Status != http.StatusForbidden || heading != "Refused" {
		t.Errorf("delete without a CSRF token: status %d, %q", resp.Status, heading)
	}
	if got := in.API(http.MethodGet, "/api/v1/calls/"+r.other.CallSID); got.Status != http.StatusOK {
		t.Fatalf("the call is gone after a refused delete: %d", got.Status)
	}

	b.load("the other call again", chromedp.Navigate(in.URL+"/console/calls/"+r.other.CallSID))
	b.load("ask to delete it again", chromedp.Click(chromedp.CSS("a.danger")))
	b.load("confirm", chromedp.Click(chromedp.CSS("form.confirm button")))
	if url, notice := b.location(), b.text("p.notice"); !strings.HasSuffix(url, "/console/calls?deleted=1") || notice != "The call was deleted." {
		t.Errorf("after deleting: %s, %q", url, notice)
	}
	if got := in.API(http.MethodGet, "/api/v1/calls/"+r.other.CallSID); got.Status != http.StatusNotFound {
		t.Errorf("deleted call: API answers %d, want 404", got.Status)
	}

	// The live view shows the ringing call and drops it when it ends,
	// on the same page (the marker set on window survives).
	b.load("the live view", chromedp.Navigate(in.URL+"/console/live"))
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.stillHere = true`))
	if rows := b.count("table.calls tbody tr"); rows != 1 {
		t.Fatalf("the live view shows %d calls, want 1", rows)
	}
	if got := in.Webhook("/twilio/status", r.live.Form("CallStatus", "completed", "CallDuration", "5")); got.Status != http.StatusNoContent {
		t.Fatalf("ending the live call: %d %s", got.Status, got.Body)
	}
	b.do("the live view refreshes", chromedp.WaitVisible(chromedp.CSS("#live p.empty")))
	if here, err := chromedp.Run(b.timeout(), chromedp.Evaluate[bool](`window.stillHere === true`)); err != nil || !here {
		t.Errorf("the live view reloaded the page instead of refreshing the list (%v)", err)
	}
}

// testConsoleAssistantForm: an assistant form with broken rules says so
// next to each field and keeps what was typed; fixed, it is saved.
func testConsoleAssistantForm(t *testing.T, b browser, in *servicetest.Instance) {
	t.Helper()
	b.load("a new assistant", chromedp.Navigate(in.URL+"/console/assistants/new"))
	b.accessible("the assistant form")
	b.do("fill it in with two mistakes",
		chromedp.SetValue(chromedp.ID("prompt"), "You answer the telephone of Smile Dental."),
		chromedp.SetValue(chromedp.ID("greeting"), "Smile Dental, hello!"),
		chromedp.SetValue(chromedp.ID("model-temperature"), "warm"))
	resp := b.load("save it", chromedp.Click(chromedp.CSS("form.assistant button[type=submit]")))
	if resp.Status != http.StatusBadRequest {
		t.Errorf("a form breaking rules: %d, want 400", resp.Status)
	}
	for id, want := range map[string]string{"name-error": "Must not be empty.", "model-temperature-error": "Must be a number."} {
		if got := b.text("#" + id); got != want {
			t.Errorf("#%s says %q, want %q", id, got, want)
		}
	}
	invalid, err := chromedp.Run(b.timeout(), chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("[aria-invalid=true]")].map(el => el.id + ":" + el.getAttribute("aria-describedby"))`))
	if err != nil || !slices.Equal(invalid, []string{"name:name-error", "model-temperature:model-temperature-hint model-temperature-error"}) {
		t.Errorf("fields marked invalid: %v (%v)", invalid, err)
	}
	if got, err := chromedp.Run(b.timeout(), chromedp.Value(chromedp.ID("greeting"))); err != nil || got != "Smile Dental, hello!" {
		t.Errorf("the form lost what was typed: greeting %q", got)
	}
	b.screenshots("assistant")
	b.do("fix them", chromedp.SetValue(chromedp.ID("name"), "Dental"), chromedp.SetValue(chromedp.ID("model-temperature"), "0.3"))
	b.load("save again", chromedp.Click(chromedp.CSS("form.assistant button[type=submit]")))
	if url, notice := b.location(), b.text("p.notice"); !strings.Contains(url, "/console/assistants/as_") || notice != "Saved." {
		t.Errorf("after saving: %s, %q", url, notice)
	}
}

// browser drives one tab for a test; every step is bounded in time.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func (b browser) timeout() context.Context {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	b.t.Cleanup(cancel)
	return ctx
}

// do runs steps that load no page.
func (b browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.timeout(), steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// load runs steps that load a page and returns the page's response.
func (b browser) load(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.timeout(), steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp
}

func (b browser) location() string {
	b.t.Helper()
	url, err := chromedp.Run(b.timeout(), chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return url
}

func (b browser) text(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.timeout(), chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

func (b browser) count(css string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.timeout(), chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(css)+`).length`))
	if err != nil {
		b.t.Fatalf("counting %s: %v", css, err)
	}
	return n
}

// accessible checks what a screen reader and the keyboard need of the
// page: a language, a title, one h1, a label for every form control, a
// name for every link and button, and nothing taken out of the tab order.
func (b browser) accessible(what string) {
	b.t.Helper()
	problems, err := chromedp.Run(b.timeout(), chromedp.Evaluate[[]string](`(() => {
  const p = [];
  if (!document.documentElement.lang) p.push("no lang on <html>");
  if (!document.title) p.push("no title");
  if (document.querySelectorAll("h1").length !== 1) p.push(document.querySelectorAll("h1").length + " h1 elements");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels || el.labels.length === 0) p.push("unlabelled " + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll("a, button")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) p.push("nameless " + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll("[tabindex]")) {
    if (el.tabIndex > 0) p.push("positive tabindex " + el.outerHTML.slice(0, 80));
  }
  return p;
})()`))
	if err != nil {
		b.t.Fatalf("checking %s: %v", what, err)
	}
	for _, p := range problems {
		b.t.Errorf("%s: %s", what, p)
	}
}

// screenshots checks the page fits a phone's width without scrolling
// sideways, and with -update-screenshots keeps it at desktop and phone
// width under docs/console/.
func (b browser) screenshots(name string) {
	b.t.Helper()
	for _, v := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("viewport "+v.suffix, chromedp.EmulateViewport(v.width, v.height, opts...))
		overflow, err := chromedp.Run(b.timeout(), chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
		if err != nil {
			b.t.Fatal(err)
		}
		if overflow {
			b.t.Errorf("%s page at %d px: wider than the window (scrolls sideways)", name, v.width)
		}
		shot, err := chromedp.Run(b.timeout(), chromedp.CaptureScreenshot())
		if err != nil {
			b.t.Fatalf("screenshot %s-%s: %v", name, v.suffix, err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			b.t.Fatalf("screenshot %s-%s: %v", name, v.suffix, err)
		}
		if img.Bounds().Dx() != int(v.width) {
			b.t.Errorf("screenshot %s-%s is %d px wide, want %d", name, v.suffix, img.Bounds().Dx(), v.width)
		}
		if *updateScreenshots {
			writeScreenshot(b.t, filepath.Join("..", "docs", "console", name+"-"+v.suffix+".png"), img)
		}
	}
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
}

func writeScreenshot(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// seedConsoleCalls makes the calls the browser test reviews, through the
// webhooks and the worker as in production: a whole conversation with its
// summary and an archived recording, another ended call, a busy one, an
// unanswered one, and a call still ringing.
func seedConsoleCalls(t *testing.T, in *servicetest.Instance) reviewed {
	t.Helper()
	r := reviewed{call: twiliotest.NewCall(servicetest.AccountSID), other: twiliotest.NewCall(servicetest.AccountSID),
		live: twiliotest.NewCall(servicetest.AccountSID), wav: 3 * time.Second}
	r.call.From = "+447700900123"
	r.audio = sineWAV(r.wav, 440)
	webhook := func(path string, form map[string]string, call twiliotest.Call) {
		t.Helper()
		var kv []string
		for k, v := range form {
			kv = append(kv, k, v)
		}
		if resp := in.Webhook(path, call.Form(kv...)); resp.Status >= 300 {
			t.Fatalf("%s: %d %s", path, resp.Status, resp.Body)
		}
	}
	busy, unanswered := twiliotest.NewCall(servicetest.AccountSID), twiliotest.NewCall(servicetest.AccountSID)
	for _, c := range []twiliotest.Call{r.other, busy, unanswered, r.call} {
		webhook("/twilio/voice", map[string]string{"CallStatus": "ringing"}, c)
		end := map[string]string{"CallStatus": "completed", "CallDuration": "42"}
		switch c.CallSID {
		case r.call.CallSID:
			webhook("/twilio/gather?turn=1", map[string]string{"SpeechResult": "What are your opening hours?", "Confidence": "0.91", "CallStatus": "in-progress"}, c)
			webhook("/twilio/gather?turn=2", map[string]string{"SpeechResult": "Great, thanks. Goodbye!", "Confidence": "0.88", "CallStatus": "in-progress"}, c)
			end["CallDuration"] = "3"
		case busy.CallSID:
			end = map[string]string{"CallStatus": "busy"}
		case unanswered.CallSID:
			end = map[string]string{"CallStatus": "no-answer"}
		}
		webhook("/twilio/status", end, c)
	}
	recSID := twiliotest.SID("RE")
	webhook("/twilio/recording", map[string]string{
		"RecordingSid": recSID, "RecordingUrl": in.Media.Add(recSID, r.audio), "RecordingStatus": "completed",
		"RecordingDuration": "3", "RecordingChannels": "1",
	}, r.call)
	webhook("/twilio/voice", map[string]string{"CallStatus": "ringing"}, r.live)
	servicetest.Eventually(t, 20*time.Second, "the recording archived and the call summarised", func() bool {
		c := in.GetCall(r.call.CallSID)
		return c.Summary != nil && len(c.Recordings) == 1 && c.Recordings[0].State == storage.RecordingStored
	})
	return r
}

// sineWAV is a real WAV file, as Twilio records calls: 8 kHz, mono,
// 16-bit PCM, a tone of hz for d.
func sineWAV(d time.Duration, hz float64) []byte {
	const rate = 8000
	n := int(d.Seconds() * rate)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(1)) // mono
	w(uint32(rate))
	w(uint32(rate * 2))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * n))
	for i := range n {
		w(int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/rate)))
	}
	return b.Bytes()
}
