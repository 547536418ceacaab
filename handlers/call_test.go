package handlers_test

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// TestWholeCall drives one call end to end over real HTTP: greeting, three
// caller turns (the last a goodbye), status completed, recording completed,
// archive from the fake Twilio media endpoint, then the API.
func TestWholeCall(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)

	r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	assertTwiML(t, r)
	for _, want := range []string{"<Start><Recording recordingStatusCallback=\"https://switchboard.example.com/twilio/recording\"",
		`action="https://switchboard.example.com/twilio/gather?turn=1"`, "Hello, thanks for calling",
		">https://switchboard.example.com/twilio/gather?silence=1&amp;turn=1</Redirect>"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("greeting TwiML lacks %q:\n%s", want, r.Body)
		}
	}

	utterances := []struct{ said, answer string }{
		{"What are your opening hours?", "We are open Monday to Friday"},
		{"And where are you located?", "100 Main Street"},
		{"Great, thanks. Goodbye!", "Thank you for calling. Goodbye!"},
	}
	for i, u := range utterances {
		r := in.Webhook("/twilio/gather?turn="+itoa(i+1), call.Form("SpeechResult", u.said, "Confidence", "0.93", "CallStatus", "in-progress"))
		assertTwiML(t, r)
		if !strings.Contains(r.Body, u.answer) {
			t.Errorf("turn %d: TwiML lacks %q:\n%s", i+1, u.answer, r.Body)
		}
		last := i == len(utterances)-1
		if got := strings.Contains(r.Body, "<Hangup>"); got != last {
			t.Errorf("turn %d: hangup = %v, want %v", i+1, got, last)
		}
		if !last && !strings.Contains(r.Body, `action="https://switchboard.example.com/twilio/gather?turn=`+itoa(i+2)+`"`) {
			t.Errorf("turn %d: next gather is not turn %d:\n%s", i+1, i+2, r.Body)
		}
	}

	for _, st := range []string{"in-progress", "completed"} {
		r := in.Webhook("/twilio/status", call.Form("CallStatus", st, "CallDuration", "42", "CallbackSource", "call-progress-events"))
		if r.Status != http.StatusNoContent {
			t.Fatalf("status %s: %d %s", st, r.Status, r.Body)
		}
	}

	audio := bytes.Repeat([]byte("RIFF-fake-wave-data-"), 5000)
	recSID := twiliotest.SID("RE")
	recURL := in.Media.Add(recSID, audio)
	r = in.Webhook("/twilio/recording", call.Form(
		"RecordingSid", recSID, "RecordingUrl", recURL, "RecordingStatus", "completed",
		"RecordingDuration", "42", "RecordingChannels", "2", "RecordingSource", "StartCallRecordingTwiML",
		"RecordingStartTime", "Mon, 30 Nov 2026 10:00:00 +0000"))
	if r.Status != http.StatusNoContent {
		t.Fatalf("recording callback: %d %s", r.Status, r.Body)
	}

	var got storage.Call
	servicetest.Eventually(t, 10*time.Second, "recording stored and summary written", func() bool {
		got = in.GetCall(call.CallSID)
		return got.Summary != nil && len(got.Recordings) == 1 && got.Recordings[0].State == storage.RecordingStored
	})

	if got.Status != storage.StatusCompleted || got.From != call.From || got.To != call.To || got.Duration != 42 {
		t.Errorf("call = %s from %s to %s duration %d", got.Status, got.From, got.To, got.Duration)
	}
	type line struct {
		Role storage.Role
		Text string
	}
	var lines []line
	for _, tu := range got.Turns {
		lines = append(lines, line{tu.Role, tu.Text})
	}
	want := []line{
		{storage.RoleAssistant, "Hello, thanks for calling. How can I help you today?"},
		{storage.RoleCaller, utterances[0].said},
		{storage.RoleAssistant, "We are open Monday to Friday, nine in the morning to six in the evening."},
		{storage.RoleCaller, utterances[1].said},
		{storage.RoleAssistant, "You can find us at 100 Main Street, next to the central station."},
		{storage.RoleCaller, utterances[2].said},
		{storage.RoleAssistant, "Thank you for calling. Goodbye!"},
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("turns (-want +got):\n%s", d)
	}
	if got.Summary.Text == "" || got.Summary.Reason == "" {
		t.Errorf("summary incomplete: %+v", got.Summary)
	}
	rec := got.Recordings[0]
	if rec.SID != recSID || rec.Size != int64(len(audio)) || rec.SHA256 != twiliotest.SHA256(audio) || rec.LastError != "" {
		t.Errorf("recording = %+v", rec)
	}
	var timeline []storage.CallStatus
	for _, ev := range got.Timeline {
		timeline = append(timeline, ev.Status)
	}
	if !containsAll(timeline, storage.StatusInProgress, storage.StatusCompleted) {
		t.Errorf("timeline = %v", timeline)
	}

	audioResp := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/"+recSID+"/audio")
	if audioResp.Status != http.StatusOK || audioResp.Body != string(audio) {
		t.Fatalf("audio: status %d, %d bytes (want %d)", audioResp.Status, len(audioResp.Body), len(audio))
	}
	if ct := audioResp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "audio/") {
		t.Errorf("audio content type %q", ct)
	}

	t.Run("Range", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/calls/"+call.CallSID+"/recordings/"+recSID+"/audio", nil)
		req.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
		req.Header.Set("Range", "bytes=100-199")
		r := in.Do(req)
		if r.Status != http.StatusPartialContent || r.Body != string(audio[100:200]) {
			t.Fatalf("range: %d, %d bytes", r.Status, len(r.Body))
		}
		if cr := r.Header.Get("Content-Range"); cr != "bytes 100-199/"+itoa(len(audio)) {
			t.Errorf("Content-Range = %q", cr)
		}
		req.Header.Set("Range", "bytes=-10")
		if r := in.Do(req); r.Status != http.StatusPartialContent || r.Body != string(audio[len(audio)-10:]) {
			t.Errorf("suffix range: %d %q", r.Status, r.Body)
		}
		req.Header.Set("Range", "bytes="+itoa(len(audio))+"-")
		if r := in.Do(req); r.Status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("unsatisfiable range: %d", r.Status)
		}
	})

	t.Run("List", func(t *testing.T) {
		r := in.API(http.MethodGet, "/api/v1/calls?status=completed&from="+strings.ReplaceAll(call.From, "+", "%2B"))
		if r.Status != http.StatusOK || !strings.Contains(r.Body, call.CallSID) || !strings.Contains(r.Body, `"next_cursor":""`) {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		// The same number typed with a bare "+".
		if r := in.API(http.MethodGet, "/api/v1/calls?from="+call.From); !strings.Contains(r.Body, call.CallSID) {
			t.Errorf("unencoded + in from: %d %s", r.Status, r.Body)
		}
		if r := in.API(http.MethodGet, "/api/v1/calls?status=busy"); strings.Contains(r.Body, call.CallSID) {
			t.Errorf("status filter ignored: %s", r.Body)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		stored, err := in.Calls.GetRecording(t.Context(), call.CallSID, recSID)
		if err != nil {
			t.Fatal(err)
		}
		if r := in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
			t.Errorf("get after delete: %d", r.Status)
		}
		if _, err := in.Blobs.Stat(t.Context(), stored.BlobKey); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("audio after delete: %v, want ErrNotFound", err)
		}
	})
}

func assertTwiML(t *testing.T, r servicetest.Response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("TwiML status %d: %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("content type %q", ct)
	}
	if !strings.HasPrefix(r.Body, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("TwiML does not start with the XML declaration: %q", r.Body[:min(40, len(r.Body))])
	}
}

func containsAll(list []storage.CallStatus, want ...storage.CallStatus) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }
