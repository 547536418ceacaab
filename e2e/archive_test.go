package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/memory"
	"switchboard/storage/postgres/pgtest"
	s3store "switchboard/storage/s3"
	"switchboard/storage/s3/s3test"
)

// The archive tests run a complete switchboard (webhooks, worker, calls API
// over real HTTP) whose blob store is storage/s3's Store on s3test's fake S3,
// with its fault injector in front of S3 and the Twilio media fake behind
// the worker.

// recordingStart is the RecordingStartTime every test recording reports,
// which fixes the date part of its object key.
const recordingStart = "Mon, 30 Nov 2026 10:00:00 +0000"

// archiveRig is one switchboard instance archiving into a fake S3.
type archiveRig struct {
	f     *s3test.Server
	store *s3store.Store
	in    *servicetest.Instance
}

// rigOptions tune startRig; zero values get the servicetest defaults (memory
// call store, fast worker backoff) and an S3 client without a timeout.
type rigOptions struct {
	calls     storage.Store
	media     *twiliotest.Media
	s3Timeout time.Duration
	// configure adjusts the instance's configuration (worker, link TTL).
	configure func(c *service.Config)
	// f is a fake S3 made by the test (to wire it before the instance).
	f *s3test.Server
}

// startRig starts a fake S3 and an instance archiving into it with 5 MiB
// parts, so a recording above 5 MiB goes up as a multipart upload.
func startRig(t *testing.T, o rigOptions) *archiveRig {
	t.Helper()
	f := o.f
	if f == nil {
		f = s3test.New(t)
	}
	store := mustS3Store(t, f.Client(o.s3Timeout))
	in := servicetest.Start(t, servicetest.Options{
		Calls: o.calls, Blobs: store, Media: o.media, Configure: o.configure,
	})
	return &archiveRig{f: f, store: store, in: in}
}

// mustS3Store is storage/s3's Store on the fake's bucket through c, with
// 5 MiB parts.
func mustS3Store(t *testing.T, c *s3api.Client) *s3store.Store {
	t.Helper()
	s, err := s3store.NewWithClient(c, s3store.Config{Bucket: s3test.Bucket, PartSize: s3store.MinPartSize})
	if err != nil {
		t.Fatalf("NewWithClient: %v", err)
	}
	return s
}

// mustPostgresCalls is a call store on a fresh migrated PostgreSQL database.
func mustPostgresCalls(t *testing.T) storage.Store {
	t.Helper()
	return mustOpen(t, storeConfig(pgtest.MigratedURL(t)))
}

// record answers an incoming call and reports its whole-call recording
// completed, with audio served by the Twilio fake after the given faults.
// It returns the recording's SID.
func (r *archiveRig) record(t *testing.T, call twiliotest.Call, audio []byte, faults ...twiliotest.Fault) string {
	t.Helper()
	if resp := r.in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")); resp.Status != http.StatusOK {
		t.Fatalf("incoming call: %d %s", resp.Status, resp.Body)
	}
	recSID := twiliotest.SID("RE")
	recURL := r.in.Media.Add(recSID, audio)
	if len(faults) > 0 {
		r.in.Media.Fail(recSID, faults...)
	}
	resp := r.in.Webhook("/twilio/recording", call.Form(
		"RecordingSid", recSID, "RecordingUrl", recURL, "RecordingStatus", "completed",
		"RecordingDuration", "42", "RecordingChannels", "2", "RecordingSource", "StartCallRecordingTwiML",
		"RecordingStartTime", recordingStart))
	if resp.Status != http.StatusNoContent {
		t.Fatalf("recording callback: %d %s", resp.Status, resp.Body)
	}
	return recSID
}

// objectKey is where the recording's audio must land in the bucket.
func objectKeyOf(call twiliotest.Call, recSID string) string {
	started, _ := time.Parse(time.RFC1123Z, recordingStart)
	return storage.RecordingKey(call.AccountSID, call.CallSID, recSID, started, "wav")
}

// recording is the call's one recording as the API shows it.
func (r *archiveRig) recording(t *testing.T, callSID string) storage.Recording {
	t.Helper()
	c := r.in.GetCall(callSID)
	if len(c.Recordings) != 1 {
		t.Fatalf("call %s has %d recordings, want 1", callSID, len(c.Recordings))
	}
	return c.Recordings[0]
}

// waitRecording polls the API until the recording satisfies cond.
func (r *archiveRig) waitRecording(t *testing.T, callSID, what string, cond func(storage.Recording) bool) storage.Recording {
	t.Helper()
	var rec storage.Recording
	servicetest.Eventually(t, 30*time.Second, what, func() bool {
		rec = r.recording(t, callSID)
		return cond(rec)
	})
	return rec
}

func (r *archiveRig) waitState(t *testing.T, callSID string, state storage.RecordingState) storage.Recording {
	t.Helper()
	return r.waitRecording(t, callSID, "recording "+string(state), func(rec storage.Recording) bool { return rec.State == state })
}

// apiRecordingJSON is the recording's raw JSON in GET /api/v1/calls/{sid},
// so tests see exactly what an API client sees.
func (r *archiveRig) apiRecordingJSON(t *testing.T, callSID string) map[string]any {
	t.Helper()
	resp := r.in.API(http.MethodGet, "/api/v1/calls/"+callSID)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET call: %d %s", resp.Status, resp.Body)
	}
	var c struct {
		Recordings []map[string]any `json:"recordings"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &c); err != nil || len(c.Recordings) != 1 {
		t.Fatalf("GET call: %d recordings (%v) in %s", len(c.Recordings), err, resp.Body)
	}
	return c.Recordings[0]
}

// checkConsistent is the invariant every fault must keep: a recording the
// database calls stored has its object in S3, byte for byte what Twilio
// served, with the recorded SHA-256; any other recording has no object and
// no multipart upload left open.
func (r *archiveRig) checkConsistent(t *testing.T, call twiliotest.Call, recSID string, audio []byte) {
	t.Helper()
	rec, err := r.in.Calls.GetRecording(context.Background(), call.CallSID, recSID)
	if err != nil {
		t.Fatalf("GetRecording: %v", err)
	}
	key := objectKeyOf(call, recSID)
	if rec.State != storage.RecordingStored {
		if r.f.Exists(t, key) {
			t.Errorf("recording is %s but S3 holds %s", rec.State, key)
		}
		if n := r.f.PendingUploads(t); n != 0 {
			t.Errorf("recording is %s with %d multipart uploads left open", rec.State, n)
		}
		return
	}
	want := twiliotest.SHA256(audio)
	if rec.BlobKey != key || rec.Size != int64(len(audio)) || rec.SHA256 != want {
		t.Errorf("stored recording: key %q size %d sha256 %s, want %q %d %s", rec.BlobKey, rec.Size, rec.SHA256, key, len(audio), want)
	}
	if got := r.f.Object(t, key); twiliotest.SHA256(got) != want || len(got) != len(audio) {
		t.Errorf("S3 object: %d bytes, sha256 %s; Twilio served %d bytes, sha256 %s", len(got), twiliotest.SHA256(got), len(audio), want)
	}
	info, err := r.store.Stat(context.Background(), rec.BlobKey)
	if err != nil || info.SHA256 != want {
		t.Errorf("Stat(%q) = sha256 %q, %v; want %s", rec.BlobKey, info.SHA256, err, want)
	}
	if n := r.f.PendingUploads(t); n != 0 {
		t.Errorf("%d multipart uploads left open after the recording was stored", n)
	}
}

// noRedirects is a client that shows the API's redirect instead of following it.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// TestArchiveWholeCall takes one call from the incoming webhook to playback
// and deletion, with the audio archived into S3.
func TestArchiveWholeCall(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		calls func(t *testing.T) storage.Store
	}{
		{"SinglePut/MemoryCalls/Playable", 300 << 10, nil},
		{"Multipart/MemoryCalls/Playable", 12 << 20, nil},
		{"Multipart/PostgresCalls/Playable", 12 << 20, mustPostgresCalls},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := rigOptions{configure: func(c *service.Config) { c.S3.URLTTL = 90 * time.Second }}
			if c.calls != nil {
				o.calls = c.calls(t)
			}
			r := startRig(t, o)
			audio := s3test.Bytes(uint64(40+i), c.size)
			call := twiliotest.NewCall(servicetest.AccountSID)

			recSID := r.record(t, call, audio)
			if resp := r.in.Webhook("/twilio/gather?turn=1", call.Form("SpeechResult", "Goodbye!", "Confidence", "0.9", "CallStatus", "in-progress")); resp.Status != http.StatusOK {
				t.Fatalf("gather: %d %s", resp.Status, resp.Body)
			}
			if resp := r.in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")); resp.Status != http.StatusNoContent {
				t.Fatalf("status: %d %s", resp.Status, resp.Body)
			}
			rec := r.waitState(t, call.CallSID, storage.RecordingStored)

			sum := twiliotest.SHA256(audio)
			if rec.SHA256 != sum || rec.Size != int64(len(audio)) || rec.LastError != "" {
				t.Errorf("API recording: sha256 %s size %d last_error %q; want %s %d \"\"", rec.SHA256, rec.Size, rec.LastError, sum, len(audio))
			}
			key := objectKeyOf(call, recSID)
			if got := r.f.Object(t, key); string(got) != string(audio) {
				t.Errorf("S3 object %s: %d bytes (sha256 %s), want what Twilio served: %d bytes (sha256 %s)", key, len(got), twiliotest.SHA256(got), len(audio), sum)
			}
			r.checkConsistent(t, call, recSID, audio)

			// Playback: a redirect to a short-lived, path-style link that a
			// plain client fetches without any credentials.
			req, err := http.NewRequest(http.MethodGet, r.in.URL+"/api/v1/calls/"+call.CallSID+"/recordings/"+recSID+"/audio", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("audio endpoint: %d, want 302", resp.StatusCode)
			}
			link, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatalf("Location %q: %v", resp.Header.Get("Location"), err)
			}
			fake, _ := url.Parse(r.f.URL)
			if link.Host != fake.Host || link.Path != "/"+s3test.Bucket+"/"+key {
				t.Errorf("presigned link %s is not path-style on %s for %s", link.Redacted(), fake.Host, key)
			}
			if q := link.Query(); q.Get("X-Amz-Expires") != "90" || q.Get("X-Amz-Signature") == "" {
				t.Errorf("presigned link expires %q, signature %q: want 90 s, signed", q.Get("X-Amz-Expires"), q.Get("X-Amz-Signature"))
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("redirect Cache-Control %q, want no-store", cc)
			}
			played, err := http.Get(link.String())
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(played.Body)
			played.Body.Close()
			if err != nil || played.StatusCode != http.StatusOK || string(body) != string(audio) {
				t.Errorf("presigned GET: %d, %d bytes (%v), want 200 and the %d bytes Twilio served", played.StatusCode, len(body), err, len(audio))
			}

			// Deleting the call deletes its object: the DELETE records the
			// purge, the workers carry it out.
			if resp := r.in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID); resp.Status != http.StatusNoContent {
				t.Fatalf("DELETE call: %d %s", resp.Status, resp.Body)
			}
			servicetest.Eventually(t, 30*time.Second, "the deleted call's object removed from S3", func() bool {
				return !r.f.Exists(t, key)
			})
			if resp := r.in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); resp.Status != http.StatusNotFound {
				t.Errorf("GET deleted call: %d", resp.Status)
			}
		})
	}
}

// attemptStarts records when each download of the recordings begins, one
// download per archive attempt.
type attemptStarts struct {
	mu    sync.Mutex
	times []time.Time
}

func watchAttempts(t *testing.T, media *twiliotest.Media) *attemptStarts {
	t.Helper()
	a := &attemptStarts{}
	started := media.Started()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-started:
				a.mu.Lock()
				a.times = append(a.times, time.Now())
				a.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return a
}

func (a *attemptStarts) get() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times...)
}

// TestArchiveS3Unavailable makes S3 fail every request for a while: the
// recording stays pending with the error in the API, is retried with
// growing delays, and is stored once S3 answers again.
func TestArchiveS3Unavailable(t *testing.T) {
	const base, maxBackoff = 150 * time.Millisecond, 300 * time.Millisecond
	cases := []struct {
		name    string
		fault   s3test.Fault
		timeout time.Duration
		size    int
	}{
		{"500/StoredAfterRecovery", s3test.InternalError, 0, 7 << 20},
		{"503/StoredAfterRecovery", s3test.SlowDown, 0, 7 << 20},
		// Small enough that, once S3 answers, no request nears the timeout
		// even on a loaded machine.
		{"HangPastTimeout/StoredAfterRecovery", s3test.Fault{Hang: true}, time.Second, 512 << 10},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := s3test.New(t)
			var down atomic.Bool
			down.Store(true)
			f.SetFault(func(*http.Request) s3test.Fault {
				if down.Load() {
					return c.fault
				}
				return s3test.Fault{}
			})
			r := startRig(t, rigOptions{f: f, s3Timeout: c.timeout, configure: func(c *service.Config) {
				c.Worker.MaxAttempts, c.Worker.BackoffBase, c.Worker.BackoffMax = 50, base, maxBackoff
			}})
			starts := watchAttempts(t, r.in.Media)
			audio := s3test.Bytes(uint64(60+i), c.size)
			call := twiliotest.NewCall(servicetest.AccountSID)
			recSID := r.record(t, call, audio)

			rec := r.waitRecording(t, call.CallSID, "three failed attempts", func(rec storage.Recording) bool {
				return rec.Attempts >= 3 && rec.LastError != ""
			})
			const want = "blob store unavailable"
			if rec.State != storage.RecordingPending || !strings.Contains(rec.LastError, want) {
				t.Errorf("while S3 is down: state %s, last_error %q; want pending with %q", rec.State, rec.LastError, want)
			}
			j := r.apiRecordingJSON(t, call.CallSID)
			if lastErr, _ := j["last_error"].(string); j["state"] != "pending" || !strings.HasPrefix(lastErr, "storing audio: ") {
				t.Errorf("API while S3 is down: state %v, last_error %v", j["state"], j["last_error"])
			}
			if r.f.Exists(t, objectKeyOf(call, recSID)) {
				t.Error("an object exists while every S3 request fails")
			}

			down.Store(false)
			rec = r.waitState(t, call.CallSID, storage.RecordingStored)
			if rec.LastError != "" {
				t.Errorf("stored recording keeps last_error %q", rec.LastError)
			}
			r.checkConsistent(t, call, recSID, audio)

			// Each retry waited at least its backoff (base·2^(n-1), capped,
			// less 20 % jitter) after the previous attempt began.
			at := starts.get()
			if len(at) < 3 {
				t.Fatalf("%d attempts seen, want at least 3", len(at))
			}
			for n := 1; n < 3; n++ {
				want := time.Duration(float64(min(base<<(n-1), maxBackoff)) * 0.8)
				if gap := at[n].Sub(at[n-1]); gap < want {
					t.Errorf("attempt %d began %s after attempt %d, want at least %s (backoff)", n+1, gap, n, want)
				}
			}
		})
	}
}

// TestArchiveTwilioFaults covers the media download's failures with S3 healthy.
func TestArchiveTwilioFaults(t *testing.T) {
	audio := s3test.Bytes(70, 6<<20)

	t.Run("NotFoundFirst/RetriedThenStored", func(t *testing.T) {
		r := startRig(t, rigOptions{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		recSID := r.record(t, call, audio, twiliotest.Fault{Status: http.StatusNotFound})
		rec := r.waitState(t, call.CallSID, storage.RecordingStored)
		if rec.Attempts != 2 || r.in.Media.Gets(recSID) != 2 {
			t.Errorf("stored after %d attempts and %d downloads, want 2 and 2", rec.Attempts, r.in.Media.Gets(recSID))
		}
		r.checkConsistent(t, call, recSID, audio)
	})

	t.Run("Unauthorized/FailedWithClearError", func(t *testing.T) {
		r := startRig(t, rigOptions{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		recSID := r.record(t, call, audio, twiliotest.Fault{Status: http.StatusUnauthorized})
		r.waitState(t, call.CallSID, storage.RecordingFailed)
		j := r.apiRecordingJSON(t, call.CallSID)
		const want = "downloading media: Twilio answered 401: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
		if j["state"] != "failed" || j["last_error"] != want || j["attempts"] != float64(1) {
			t.Errorf("API: state %v, attempts %v, last_error %q; want failed after 1 attempt with %q", j["state"], j["attempts"], j["last_error"], want)
		}
		if n := r.in.Media.Gets(recSID); n != 1 {
			t.Errorf("downloaded %d times, want 1 (credentials do not fix themselves)", n)
		}
		if n := len(r.f.Seen("PutObject")) + len(r.f.Seen("CreateMultipartUpload")); n != 0 {
			t.Errorf("%d uploads began without audio", n)
		}
		r.checkConsistent(t, call, recSID, audio)
	})

	t.Run("CutMidUpload/FailedNoObject", func(t *testing.T) {
		// The download dies after one full part went up: the multipart
		// upload is aborted and nothing is stored.
		r := startRig(t, rigOptions{configure: func(c *service.Config) { c.Worker.MaxAttempts = 1 }})
		call := twiliotest.NewCall(servicetest.AccountSID)
		big := s3test.Bytes(71, 12<<20)
		recSID := r.record(t, call, big, twiliotest.Fault{CutAfter: 7 << 20})
		rec := r.waitState(t, call.CallSID, storage.RecordingFailed)
		if !strings.Contains(rec.LastError, "storing audio") {
			t.Errorf("last_error %q, want the failed store named", rec.LastError)
		}
		if len(r.f.Seen("CreateMultipartUpload")) == 0 {
			t.Error("no multipart upload began: the cut was not midway")
		}
		r.checkConsistent(t, call, recSID, big)
	})
}

// TestArchiveUploadCut cuts S3's connection in the middle of the second part
// of a 12 MiB multipart upload (5 MiB parts), on every try the SDK makes.
func TestArchiveUploadCut(t *testing.T) {
	audio := s3test.Bytes(80, 12<<20)
	cutPart2 := func(cutting func() bool, cuts *atomic.Int32) func(*http.Request) s3test.Fault {
		return func(req *http.Request) s3test.Fault {
			if s3test.Op(req) == "UploadPart" && req.URL.Query().Get("partNumber") == "2" && cutting() {
				cuts.Add(1)
				return s3test.Fault{Cut: 1 << 20}
			}
			return s3test.Fault{}
		}
	}

	t.Run("NoRetriesLeft/FailedNoObject", func(t *testing.T) {
		f := s3test.New(t)
		var cuts atomic.Int32
		f.SetFault(cutPart2(func() bool { return true }, &cuts))
		r := startRig(t, rigOptions{f: f, configure: func(c *service.Config) { c.Worker.MaxAttempts = 1 }})
		call := twiliotest.NewCall(servicetest.AccountSID)
		recSID := r.record(t, call, audio)
		rec := r.waitState(t, call.CallSID, storage.RecordingFailed)
		if cuts.Load() == 0 || rec.LastError == "" {
			t.Errorf("%d cuts, last_error %q: want the cut to fail the upload", cuts.Load(), rec.LastError)
		}
		if len(r.f.Seen("AbortMultipartUpload")) == 0 {
			t.Error("the interrupted multipart upload was not aborted")
		}
		r.checkConsistent(t, call, recSID, audio)
	})

	t.Run("Retried/StoredWhole", func(t *testing.T) {
		f := s3test.New(t)
		var cuts atomic.Int32
		var media = twiliotest.NewMedia(servicetest.AccountSID, servicetest.AuthToken)
		t.Cleanup(media.Close)
		var recSID atomic.Value
		// Cut only during the first archive attempt (the first download).
		f.SetFault(cutPart2(func() bool {
			sid, _ := recSID.Load().(string)
			return sid != "" && media.Gets(sid) == 1
		}, &cuts))
		r := startRig(t, rigOptions{f: f, media: media})
		call := twiliotest.NewCall(servicetest.AccountSID)
		sid := twiliotest.SID("RE")
		recSID.Store(sid)
		if resp := r.in.Webhook("/twilio/voice", call.Form()); resp.Status != http.StatusOK {
			t.Fatalf("incoming call: %d", resp.Status)
		}
		media.Add(sid, audio)
		resp := r.in.Webhook("/twilio/recording", call.Form("RecordingSid", sid, "RecordingUrl", media.RecordingURL(sid),
			"RecordingStatus", "completed", "RecordingStartTime", recordingStart))
		if resp.Status != http.StatusNoContent {
			t.Fatalf("recording callback: %d %s", resp.Status, resp.Body)
		}
		rec := r.waitState(t, call.CallSID, storage.RecordingStored)
		if cuts.Load() == 0 || rec.Attempts < 2 {
			t.Errorf("%d cuts, stored at attempt %d: want a cut first attempt", cuts.Load(), rec.Attempts)
		}
		r.checkConsistent(t, call, sid, audio)
	})
}

// deleteProbe stands in front of the Twilio media fake and, when the media
// DELETE arrives, notes what the database and S3 held at that moment.
type deleteProbe struct {
	state   storage.RecordingState
	blobKey string
	objSHA  string
	statErr error
}

// TestArchiveDeleteAfterArchive shows TWILIO_DELETE_AFTER_ARCHIVE deleting
// the media at Twilio only once S3 holds the object and the database says
// stored, and never when archiving failed.
func TestArchiveDeleteAfterArchive(t *testing.T) {
	audio := s3test.Bytes(90, 6<<20)

	// probed starts an instance whose Twilio traffic passes through a probe.
	probed := func(t *testing.T, f *s3test.Server, call twiliotest.Call, o rigOptions) (*archiveRig, <-chan deleteProbe) {
		t.Helper()
		calls := memory.New()
		probeStore := mustS3Store(t, f.Client(0))
		media := twiliotest.NewMedia(servicetest.AccountSID, servicetest.AuthToken)
		t.Cleanup(media.Close)
		target, err := url.Parse(media.URL)
		if err != nil {
			t.Fatal(err)
		}
		probes := make(chan deleteProbe, 8)
		forward := httputil.NewSingleHostReverseProxy(target)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodDelete {
				sid := strings.TrimSuffix(req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:], ".json")
				var p deleteProbe
				if rec, err := calls.GetRecording(req.Context(), call.CallSID, sid); err != nil {
					p.statErr = err
				} else {
					p.state, p.blobKey = rec.State, rec.BlobKey
					info, err := probeStore.Stat(req.Context(), objectKeyOf(call, sid))
					p.objSHA, p.statErr = info.SHA256, err
				}
				probes <- p
			}
			forward.ServeHTTP(w, req)
		}))
		t.Cleanup(proxy.Close)
		// The instance, and the RecordingUrl it is sent, see the probe as
		// Twilio's API origin.
		media.URL = proxy.URL
		o.f, o.calls, o.media = f, calls, media
		configure := o.configure
		o.configure = func(c *service.Config) {
			if configure != nil {
				configure(c)
			}
			c.Worker.DeleteAfterArchive = true
		}
		return startRig(t, o), probes
	}

	t.Run("Stored/DeletedAfterwards", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		r, probes := probed(t, s3test.New(t), call, rigOptions{})
		recSID := r.record(t, call, audio)
		var p deleteProbe
		select {
		case p = <-probes:
		case <-time.After(30 * time.Second):
			t.Fatal("the media was never deleted at Twilio")
		}
		if p.state != storage.RecordingStored || p.blobKey != objectKeyOf(call, recSID) || p.statErr != nil || p.objSHA != twiliotest.SHA256(audio) {
			t.Errorf("at Twilio's DELETE: database %s (key %q), S3 sha256 %q (%v); want stored, object with sha256 %s",
				p.state, p.blobKey, p.objSHA, p.statErr, twiliotest.SHA256(audio))
		}
		servicetest.Eventually(t, 10*time.Second, "delete work done", func() bool { return r.in.Media.Deletes(recSID) == 1 })
		r.checkConsistent(t, call, recSID, audio)
	})

	t.Run("S3Failing/MediaKept", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		f := s3test.New(t)
		f.SetFault(func(req *http.Request) s3test.Fault { return s3test.InternalError })
		r, probes := probed(t, f, call, rigOptions{configure: func(c *service.Config) { c.Worker.MaxAttempts = 2 }})
		recSID := r.record(t, call, audio)
		r.waitState(t, call.CallSID, storage.RecordingFailed)
		select {
		case p := <-probes:
			t.Errorf("media deleted at Twilio although archiving failed (database said %s)", p.state)
		default:
		}
		if n := r.in.Media.Deletes(recSID); n != 0 {
			t.Errorf("%d DELETEs at Twilio, want 0", n)
		}
		f.SetFault(nil)
		r.checkConsistent(t, call, recSID, audio)
	})
}

// TestArchiveDeleteVersioned deletes a call whose audio is in a versioned
// bucket: a recording stored twice (a retried archive writes a second
// version) and one the database still calls pending although its upload
// finished (the worker died before recording it). No version and no delete
// marker of either object may remain, and late callbacks bring nothing back.
func TestArchiveDeleteVersioned(t *testing.T) {
	cases := []struct {
		name  string
		calls func(t *testing.T) storage.Store
	}{
		{"MemoryCalls", nil},
		{"PostgresCalls", mustPostgresCalls},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Failed downloads are retried only after an hour: the second
			// recording stays pending for the whole test.
			o := rigOptions{f: s3test.NewVersioned(t), configure: func(c *service.Config) {
				c.Worker.BackoffBase, c.Worker.BackoffMax = time.Hour, time.Hour
			}}
			if c.calls != nil {
				o.calls = c.calls(t)
			}
			r := startRig(t, o)
			audio := s3test.Bytes(uint64(70+i), 300<<10)
			call := twiliotest.NewCall(servicetest.AccountSID)
			stored := r.record(t, call, audio)
			if resp := r.in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")); resp.Status != http.StatusNoContent {
				t.Fatalf("status: %d %s", resp.Status, resp.Body)
			}
			r.waitState(t, call.CallSID, storage.RecordingStored)
			storedKey := objectKeyOf(call, stored)
			if _, err := r.store.Put(context.Background(), storedKey, strings.NewReader(string(audio)), "audio/x-wav"); err != nil {
				t.Fatal(err)
			}

			pending := twiliotest.SID("RE")
			r.in.Media.Add(pending, audio)
			r.in.Media.Fail(pending, twiliotest.Fault{Status: 500})
			resp := r.in.Webhook("/twilio/recording", call.Form(
				"RecordingSid", pending, "RecordingUrl", r.in.Media.RecordingURL(pending), "RecordingStatus", "completed",
				"RecordingDuration", "42", "RecordingChannels", "2", "RecordingStartTime", recordingStart))
			if resp.Status != http.StatusNoContent {
				t.Fatalf("recording callback: %d %s", resp.Status, resp.Body)
			}
			servicetest.Eventually(t, 30*time.Second, "the second recording's first attempt to fail", func() bool {
				rec, err := r.in.Calls.GetRecording(context.Background(), call.CallSID, pending)
				return err == nil && rec.Attempts == 1 && rec.LastError != ""
			})
			pendingKey := objectKeyOf(call, pending)
			if _, err := r.store.Put(context.Background(), pendingKey, strings.NewReader(string(audio)), "audio/x-wav"); err != nil {
				t.Fatal(err)
			}
			if rec, _ := r.in.Calls.GetRecording(context.Background(), call.CallSID, pending); rec.State != storage.RecordingPending {
				t.Fatalf("second recording is %s, want pending", rec.State)
			}
			if n, m := len(r.f.Versions(t, storedKey)), len(r.f.Versions(t, pendingKey)); n != 2 || m != 1 {
				t.Fatalf("before the delete: %d and %d versions, want 2 and 1", n, m)
			}

			if resp := r.in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID); resp.Status != http.StatusNoContent {
				t.Fatalf("DELETE call: %d %s", resp.Status, resp.Body)
			}
			servicetest.Eventually(t, 30*time.Second, "every version of both objects removed by the workers", func() bool {
				return len(r.f.Versions(t, storedKey)) == 0 && len(r.f.Versions(t, pendingKey)) == 0
			})
			// The same purge deletes both recordings' media at Twilio, the
			// pending one's included.
			servicetest.Eventually(t, 30*time.Second, "both recordings' media deleted at Twilio", func() bool {
				return r.in.Media.Deletes(stored) >= 1 && r.in.Media.Deletes(pending) >= 1
			})

			// Twilio's late callback is acknowledged and archives nothing.
			late := r.in.Webhook("/twilio/recording", call.Form(
				"RecordingSid", stored, "RecordingUrl", r.in.Media.RecordingURL(stored), "RecordingStatus", "completed",
				"RecordingDuration", "42", "RecordingChannels", "2", "RecordingStartTime", recordingStart))
			if late.Status != http.StatusNoContent {
				t.Errorf("late recording callback: %d %s", late.Status, late.Body)
			}
			if resp := r.in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); resp.Status != http.StatusNotFound {
				t.Errorf("GET deleted call: %d", resp.Status)
			}
			r.in.StopWorkers()
			if w, ok, err := r.in.Calls.ClaimWork(context.Background(), time.Now().Add(48*time.Hour), time.Minute); err != nil || ok {
				t.Errorf("work after the late callback: %+v, %v, %v; want none", w, ok, err)
			}
			if vs := r.f.Versions(t, storedKey); len(vs) != 0 {
				t.Errorf("the late callback brought back %v", vs)
			}
		})
	}
}
