package handlers_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/memory"
)

func completeRecording(t *testing.T, in *servicetest.Instance, call twiliotest.Call, recSID string) {
	t.Helper()
	r := in.Webhook("/twilio/recording", call.Form("RecordingSid", recSID, "RecordingUrl", in.Media.RecordingURL(recSID),
		"RecordingStatus", "completed", "RecordingDuration", "3", "RecordingChannels", "2"))
	if r.Status != http.StatusNoContent {
		t.Fatalf("recording callback: %d %s", r.Status, r.Body)
	}
}

func recordingOf(t *testing.T, in *servicetest.Instance, callSID string) storage.Recording {
	t.Helper()
	c := in.GetCall(callSID)
	if len(c.Recordings) != 1 {
		t.Fatalf("%d recordings", len(c.Recordings))
	}
	return c.Recordings[0]
}

func TestArchiveFaults(t *testing.T) {
	audio := bytes.Repeat([]byte{0, 1, 2, 3, 250, 251}, 40000)

	t.Run("NotFoundThenOK", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		in.Media.Add(recSID, audio)
		in.Media.Fail(recSID, twiliotest.Fault{Status: 404})
		completeRecording(t, in, call, recSID)
		servicetest.Eventually(t, 10*time.Second, "stored", func() bool {
			return recordingOf(t, in, call.CallSID).State == storage.RecordingStored
		})
		rec := recordingOf(t, in, call.CallSID)
		if rec.SHA256 != twiliotest.SHA256(audio) || in.Media.Gets(recSID) != 2 || rec.Attempts != 2 {
			t.Errorf("recording %+v after %d downloads", rec, in.Media.Gets(recSID))
		}
	})

	t.Run("Repeated500ThenFailed", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) { c.Worker.MaxAttempts = 3 }})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		in.Media.Add(recSID, audio)
		in.Media.Fail(recSID, twiliotest.Fault{Status: 500}, twiliotest.Fault{Status: 502}, twiliotest.Fault{Status: 500}, twiliotest.Fault{Status: 500})
		completeRecording(t, in, call, recSID)
		servicetest.Eventually(t, 10*time.Second, "failed", func() bool {
			return recordingOf(t, in, call.CallSID).State == storage.RecordingFailed
		})
		rec := recordingOf(t, in, call.CallSID)
		if !strings.Contains(rec.LastError, "500") || rec.Attempts != 3 || in.Media.Gets(recSID) != 3 {
			t.Errorf("recording %+v after %d downloads", rec, in.Media.Gets(recSID))
		}
		r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID)
		if !strings.Contains(r.Body, `"state":"failed"`) || !strings.Contains(r.Body, `"last_error":"downloading media: Twilio answered 500`) {
			t.Errorf("API does not show the failure: %s", r.Body)
		}
		if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/"+recSID+"/audio"); r.Status != http.StatusConflict {
			t.Errorf("audio of a failed recording: %d", r.Status)
		}
	})

	t.Run("UnauthorizedFailsAtOnce", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		in.Media.Add(recSID, audio)
		in.Media.Fail(recSID, twiliotest.Fault{Status: 401})
		completeRecording(t, in, call, recSID)
		servicetest.Eventually(t, 10*time.Second, "failed", func() bool {
			return recordingOf(t, in, call.CallSID).State == storage.RecordingFailed
		})
		if rec := recordingOf(t, in, call.CallSID); !strings.Contains(rec.LastError, "TWILIO_AUTH_TOKEN") || in.Media.Gets(recSID) != 1 {
			t.Errorf("recording %+v after %d downloads", rec, in.Media.Gets(recSID))
		}
	})

	t.Run("CutMidwayThenOK", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		in.Media.Add(recSID, audio)
		in.Media.Fail(recSID, twiliotest.Fault{CutAfter: int64(len(audio) / 3)})
		completeRecording(t, in, call, recSID)
		servicetest.Eventually(t, 10*time.Second, "stored", func() bool {
			return recordingOf(t, in, call.CallSID).State == storage.RecordingStored
		})
		if rec := recordingOf(t, in, call.CallSID); rec.Size != int64(len(audio)) || rec.SHA256 != twiliotest.SHA256(audio) {
			t.Errorf("recording %+v", rec)
		}
	})

	t.Run("AbsentRecording", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		r := in.Webhook("/twilio/recording", call.Form("RecordingSid", recSID, "RecordingStatus", "absent", "ErrorCode", "0"))
		if r.Status != http.StatusNoContent {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if rec := recordingOf(t, in, call.CallSID); rec.State != storage.RecordingFailed || !strings.Contains(rec.LastError, "absent") {
			t.Errorf("recording %+v", rec)
		}
	})

	t.Run("DeleteAfterArchive", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) { c.Worker.DeleteAfterArchive = true }})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		in.Media.Add(recSID, audio)
		completeRecording(t, in, call, recSID)
		servicetest.Eventually(t, 10*time.Second, "media deleted at Twilio", func() bool { return in.Media.Deletes(recSID) == 1 })
		if rec := recordingOf(t, in, call.CallSID); rec.State != storage.RecordingStored {
			t.Errorf("recording %+v", rec)
		}
	})

	t.Run("DuplicateCallback", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{})
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		recSID := twiliotest.SID("RE")
		in.Media.Add(recSID, audio)
		for range 3 {
			completeRecording(t, in, call, recSID)
		}
		servicetest.Eventually(t, 10*time.Second, "stored", func() bool {
			return recordingOf(t, in, call.CallSID).State == storage.RecordingStored
		})
		if n := in.Media.Gets(recSID); n != 1 {
			t.Errorf("downloaded %d times", n)
		}
	})
}

// TestArchiveWorkerStoppedMidTask stops an instance's workers while a
// download is in the middle; another instance on the same store finishes it.
func TestArchiveWorkerStoppedMidTask(t *testing.T) {
	store := memory.New()
	media := twiliotest.NewMedia(servicetest.AccountSID, servicetest.AuthToken)
	t.Cleanup(media.Close)
	first := servicetest.Start(t, servicetest.Options{Calls: store, Media: media})
	audio := bytes.Repeat([]byte("0123456789abcdef"), 30000)
	call := twiliotest.NewCall(servicetest.AccountSID)
	first.Webhook("/twilio/voice", call.Form())
	recSID := twiliotest.SID("RE")
	media.Add(recSID, audio)
	release := media.Block(recSID)
	defer release()
	started := media.Started()
	completeRecording(t, first, call, recSID)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the download never started")
	}
	first.StopWorkers()
	release()
	if rec := recordingOf(t, first, call.CallSID); rec.State != storage.RecordingPending {
		t.Fatalf("after stopping: %+v", rec)
	}

	second := servicetest.Start(t, servicetest.Options{Calls: store, Media: media, Blobs: first.Blobs})
	servicetest.Eventually(t, 10*time.Second, "stored by the second instance", func() bool {
		return recordingOf(t, second, call.CallSID).State == storage.RecordingStored
	})
	rec := recordingOf(t, second, call.CallSID)
	if rec.SHA256 != twiliotest.SHA256(audio) {
		t.Errorf("recording %+v", rec)
	}
	// Released at shutdown, the interrupted attempt does not count.
	if rec.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", rec.Attempts)
	}
}

// TestCallDeletedWhileArchiving: the call is deleted while its audio is
// being downloaded. The upload finishes after the deletion, when the work
// and its lease are gone with the call; its object must not stay behind
// with nothing referring to it, and nothing of the call may come back.
func TestCallDeletedWhileArchiving(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			blobs, dir := mustBlobDir(t)
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t), Blobs: blobs})
			audio := bytes.Repeat([]byte("deleted-call-audio"), 20000)
			call := twiliotest.NewCall(servicetest.AccountSID)
			in.Webhook("/twilio/voice", call.Form())
			recSID := twiliotest.SID("RE")
			in.Media.Add(recSID, audio)
			release := in.Media.Block(recSID)
			defer release()
			started := in.Media.Started()
			completeRecording(t, in, call, recSID)
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the download never started")
			}
			// Only an ended call can be deleted; the recording is still uploading.
			endCall(t, in, call)
			deleteCall(t, in, call.CallSID)
			release()
			// Wait for the attempt to end, then look for its object.
			servicetest.Eventually(t, 10*time.Second, "the archive attempt to end", func() bool {
				return metricSum(t, in.Registry, "switchboard_work_total", map[string]string{"kind": "archive_recording"}) >= 1
			})
			if files := objectFiles(t, dir); len(files) != 0 {
				t.Errorf("audio of a deleted call left behind: %v", files)
			}
			if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
				t.Errorf("GET deleted call after the archive attempt: %d %s", r.Status, r.Body)
			}
		})
	}
}
