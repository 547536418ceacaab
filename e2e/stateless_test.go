package e2e

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// TestStateless drives the same call twice: once through one instance, once
// round-robin through three instances on the same database (each request,
// and the background work, on whichever instance claims it). The stored
// calls must be the same, turn for turn.
func TestStateless(t *testing.T) {
	// Each run has its own database, media server and blob store, so the
	// one instance's work cannot be done by the three.
	three := startInstances(t, 3, pgtest.MigratedURL(t), clusterOptions{})
	one := startInstances(t, 1, pgtest.MigratedURL(t), clusterOptions{})

	single := driveWholeCall(t, one, "+14155550142")
	spread := driveWholeCall(t, three, "+14155550142")

	ignore := cmp.Options{
		cmpopts.IgnoreFields(storage.Call{}, "SID", "CreatedAt", "UpdatedAt", "EndedAt"),
		cmpopts.IgnoreFields(storage.StatusEvent{}, "At"),
		cmpopts.IgnoreFields(storage.Turn{}, "CallSID", "CreatedAt"),
		cmpopts.IgnoreFields(storage.Summary{}, "CreatedAt"),
		cmpopts.IgnoreFields(storage.Recording{}, "SID", "CallSID", "SourceURL", "BlobKey", "CreatedAt", "StoredAt"),
	}
	if d := cmp.Diff(single, spread, ignore); d != "" {
		t.Errorf("call through three instances differs from the call through one (-one +three):\n%s", d)
	}
	// The comparison means something only if the call is complete.
	if len(single.Turns) != 9 || single.Status != storage.StatusCompleted || single.Summary == nil ||
		len(single.Recordings) != 1 || single.Recordings[0].State != storage.RecordingStored || len(single.Timeline) != 2 {
		t.Errorf("reference call incomplete: %d turns, status %s, summary %v, recordings %+v, timeline %+v",
			len(single.Turns), single.Status, single.Summary, single.Recordings, single.Timeline)
	}
}

// driveWholeCall runs one call from the incoming webhook to the archived
// recording and summary, sending request i to instance i mod n, and returns
// the call as stored.
func driveWholeCall(t *testing.T, c *cluster, from string) storage.Call {
	t.Helper()
	call := twiliotest.NewCall(servicetest.AccountSID)
	call.From = from
	next := 0
	send := func(path string, form map[string][]string, want int) servicetest.Response {
		t.Helper()
		in := c.instances[next%len(c.instances)]
		next++
		r := in.Webhook(path, form)
		if r.Status != want {
			t.Fatalf("%s on instance %d: %d %s, want %d", path, (next-1)%len(c.instances), r.Status, r.Body, want)
		}
		return r
	}

	send("/twilio/voice", call.Form("CallStatus", "ringing"), http.StatusOK)
	send("/twilio/status", statusForm(call, "in-progress", 1), http.StatusNoContent)
	for i, said := range []string{
		"What are your opening hours?",
		"Where are you located?",
		"How much does it cost?",
		"Can I book an appointment?",
	} {
		send("/twilio/gather?turn="+strconv.Itoa(i+1), turnForm(call, said), http.StatusOK)
	}
	send("/twilio/status", statusForm(call, "completed", 2), http.StatusNoContent)

	audio := bytes.Repeat([]byte("RIFF-whole-call-"), 8000)
	recSID := twiliotest.SID("RE")
	c.media.Add(recSID, audio)
	send("/twilio/recording", recordingForm(call, c.media, recSID), http.StatusNoContent)

	var got storage.Call
	servicetest.Eventually(t, 20*time.Second, "recording archived and summary written", func() bool {
		got = mustCall(t, c.instances[next%len(c.instances)].Calls, call.CallSID)
		return got.Summary != nil && len(got.Recordings) == 1 && got.Recordings[0].State == storage.RecordingStored
	})
	if sha := got.Recordings[0].SHA256; sha != twiliotest.SHA256(audio) {
		t.Errorf("stored recording sha256 %s, want the audio's %s", sha, twiliotest.SHA256(audio))
	}
	return got
}
