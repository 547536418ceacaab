package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/memory"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
	s3store "switchboard/storage/s3"
	"switchboard/storage/s3/s3test"
)

// callStores are the call stores the deletion tests run on.
var callStores = []struct {
	name string
	open func(t *testing.T) storage.Store
}{
	{"Memory", func(t *testing.T) storage.Store { return memory.New() }},
	{"Postgres", func(t *testing.T) storage.Store {
		s, err := postgres.Open(context.Background(), postgres.Config{
			URL: pgtest.MigratedURL(t), MaxConns: 10, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatalf("opening the PostgreSQL call store: %v", err)
		}
		t.Cleanup(s.Close)
		return s
	}},
}

// mustBlobDir is a local blob store in a directory the test can list.
func mustBlobDir(t *testing.T) (*localfs.Store, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := localfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b, dir
}

// objectFiles lists the objects a local blob store holds.
func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// endCall reports the call completed.
func endCall(t *testing.T, in *servicetest.Instance, call twiliotest.Call) {
	t.Helper()
	if r := in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")); r.Status != http.StatusNoContent {
		t.Fatalf("status completed: %d %s", r.Status, r.Body)
	}
}

func deleteCall(t *testing.T, in *servicetest.Instance, sid string) {
	t.Helper()
	if r := in.API(http.MethodDelete, "/api/v1/calls/"+sid); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE call: %d %s", r.Status, r.Body)
	}
}

// TestDeletedCallStaysDeleted deletes an archived call, then sends every
// webhook Twilio may still send for it. Each is acknowledged as Twilio
// needs, and none stores anything: the call stays 404, no work appears and
// no audio is written.
func TestDeletedCallStaysDeleted(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			blobs, dir := mustBlobDir(t)
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t), Blobs: blobs})
			call := twiliotest.NewCall(servicetest.AccountSID)
			if r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")); r.Status != http.StatusOK {
				t.Fatalf("incoming call: %d %s", r.Status, r.Body)
			}
			audio := bytes.Repeat([]byte("late-callback-audio-"), 4000)
			recSID := twiliotest.SID("RE")
			in.Media.Add(recSID, audio)
			endCall(t, in, call)
			completeRecording(t, in, call, recSID)
			servicetest.Eventually(t, 10*time.Second, "recording stored and summary written", func() bool {
				c := in.GetCall(call.CallSID)
				return c.Summary != nil && len(c.Recordings) == 1 && c.Recordings[0].State == storage.RecordingStored
			})
			if files := objectFiles(t, dir); len(files) != 1 {
				t.Fatalf("blob store holds %v, want the one recording", files)
			}
			deleteCall(t, in, call.CallSID)
			// The workers delete the audio, here and at Twilio, from the
			// purge the delete recorded.
			servicetest.Eventually(t, 10*time.Second, "the deleted call's audio removed", func() bool {
				return len(objectFiles(t, dir)) == 0 &&
					metricSum(t, in.Registry, "switchboard_retention_purge_attempts_total", map[string]string{"outcome": "ok"}) == 1
			})
			if n := in.Media.Deletes(recSID); n != 1 {
				t.Errorf("the recording's media was deleted %d times at Twilio, want once", n)
			}
			// From here on, any work a webhook enqueued stays where the
			// test can see it.
			in.StopWorkers()
			gets := in.Media.Gets(recSID)

			newRec := twiliotest.SID("RE")
			in.Media.Add(newRec, audio)
			late := []struct {
				name, path string
				form       []string
				twiml      bool
			}{
				{"StatusCompletedAgain", "/twilio/status", []string{"CallStatus", "completed", "CallDuration", "42", "SequenceNumber", "3"}, false},
				{"StatusInProgressLate", "/twilio/status", []string{"CallStatus", "in-progress", "SequenceNumber", "1"}, false},
				{"StatusRingingLate", "/twilio/status", []string{"CallStatus", "ringing", "SequenceNumber", "0"}, false},
				{"RecordingCompletedAgain", "/twilio/recording", []string{"RecordingSid", recSID, "RecordingUrl", in.Media.RecordingURL(recSID), "RecordingStatus", "completed", "RecordingDuration", "3"}, false},
				{"RecordingCompletedNew", "/twilio/recording", []string{"RecordingSid", newRec, "RecordingUrl", in.Media.RecordingURL(newRec), "RecordingStatus", "completed", "RecordingDuration", "3"}, false},
				{"RecordingAbsent", "/twilio/recording", []string{"RecordingSid", twiliotest.SID("RE"), "RecordingStatus", "absent", "ErrorCode", "0"}, false},
				{"Gather", "/twilio/gather?turn=1", []string{"SpeechResult", "Are you still there?", "Confidence", "0.9", "CallStatus", "in-progress"}, true},
				{"GatherSilence", "/twilio/gather?silence=1&turn=1", []string{"CallStatus", "in-progress"}, true},
				{"IncomingCall", "/twilio/voice", []string{"CallStatus", "ringing"}, true},
			}
			for _, w := range late {
				t.Run(w.name, func(t *testing.T) {
					r := in.Webhook(w.path, call.Form(w.form...))
					if w.twiml {
						assertTwiML(t, r)
						if !strings.HasSuffix(r.Body, "<Response><Hangup></Hangup></Response>") {
							t.Errorf("answer to a webhook about a deleted call: %s, want only <Hangup>", r.Body)
						}
					} else if r.Status != http.StatusNoContent {
						t.Errorf("answer: %d %s, want 204", r.Status, r.Body)
					}
					if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
						t.Fatalf("GET deleted call: %d %s, want 404", r.Status, r.Body)
					}
				})
			}

			if r := in.API(http.MethodGet, "/api/v1/calls"); strings.Contains(r.Body, call.CallSID) {
				t.Errorf("the deleted call is listed again: %s", r.Body)
			}
			if w, ok, err := in.Calls.ClaimWork(t.Context(), time.Now().Add(24*time.Hour), time.Minute); err != nil || ok {
				t.Errorf("work after the late webhooks: %+v, %v, %v; want none", w, ok, err)
			}
			// A worker that starts now finds nothing to archive.
			second := servicetest.Start(t, servicetest.Options{Calls: in.Calls, Blobs: blobs, Media: in.Media})
			if n := second.Workers.Drain(t.Context()); n != 0 {
				t.Errorf("a worker found %d items of work for the deleted call", n)
			}
			if got := in.Media.Gets(recSID) + in.Media.Gets(newRec); got != gets {
				t.Errorf("media downloaded %d times after the delete", got-gets)
			}
			if files := objectFiles(t, dir); len(files) != 0 {
				t.Errorf("blob store holds %v after the late webhooks", files)
			}
			if r := in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
				t.Errorf("second DELETE: %d %s, want 404", r.Status, r.Body)
			}
		})
	}
}

// TestDeleteLiveCall: a call Twilio is still running cannot be deleted, or
// the caller would be talking to a call that no longer exists.
func TestDeleteLiveCall(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t)})
			for _, st := range []string{"queued", "ringing", "in-progress"} {
				t.Run(st, func(t *testing.T) {
					call := twiliotest.NewCall(servicetest.AccountSID)
					if st == "queued" {
						// A call first seen by its status callback.
						if r := in.Webhook("/twilio/status", call.Form("CallStatus", "queued")); r.Status != http.StatusNoContent {
							t.Fatalf("status queued: %d %s", r.Status, r.Body)
						}
					} else {
						in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
						in.Webhook("/twilio/status", call.Form("CallStatus", st))
					}
					r := in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID)
					if r.Status != http.StatusConflict || !strings.Contains(r.Body, `"code":"conflict"`) || !strings.Contains(r.Body, " is "+st) {
						t.Fatalf("DELETE of a %s call: %d %s, want 409 naming the status", st, r.Status, r.Body)
					}
					// The call carries on, and once it ended it can be deleted.
					if got := in.GetCall(call.CallSID).Status; string(got) != st {
						t.Errorf("status after the refused delete: %s, want %s", got, st)
					}
					if r := in.Webhook("/twilio/gather?turn=1", call.Form("SpeechResult", "What are your hours?", "CallStatus", "in-progress")); r.Status != http.StatusOK || strings.Contains(r.Body, "<Hangup>") {
						t.Errorf("gather after the refused delete: %d %s", r.Status, r.Body)
					}
					endCall(t, in, call)
					deleteCall(t, in, call.CallSID)
				})
			}
		})
	}
}

// TestDeleteRemovesAudioWrittenBeforeACrash: a worker uploaded the audio
// and died before recording it, so the store still calls the recording
// pending while its object exists under the recording's key. Deleting the
// call must delete that object too. The instance that answered the DELETE
// runs no worker, as if it died once the deletion committed: another
// instance's workers delete the object.
func TestDeleteRemovesAudioWrittenBeforeACrash(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			blobs, dir := mustBlobDir(t)
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t), Blobs: blobs, NoWorkers: true})
			call := twiliotest.NewCall(servicetest.AccountSID)
			in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
			recSID := twiliotest.SID("RE")
			in.Media.Add(recSID, []byte("audio"))
			endCall(t, in, call)
			completeRecording(t, in, call, recSID)
			rec := recordingOf(t, in, call.CallSID)
			stored, err := in.Calls.GetRecording(t.Context(), call.CallSID, recSID)
			if err != nil {
				t.Fatal(err)
			}
			key := stored.ArchiveKey()
			if rec.State != storage.RecordingPending || key == "" {
				t.Fatalf("recording %+v with key %q, want pending with a key", rec, key)
			}
			// What the crashed worker left behind.
			if _, err := blobs.Put(t.Context(), key, strings.NewReader("uploaded just before the crash"), "audio/x-wav"); err != nil {
				t.Fatal(err)
			}

			deleteCall(t, in, call.CallSID)
			if _, err := in.Calls.GetCall(t.Context(), call.CallSID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("GetCall after the delete: %v, want ErrNotFound", err)
			}
			in.Terminate()

			other := servicetest.Start(t, servicetest.Options{Calls: in.Calls, Blobs: blobs, Media: in.Media, NoWorkers: true})
			if n := other.Workers.Drain(t.Context()); n == 0 {
				t.Error("another instance's workers found nothing to do for the deleted call")
			}
			if _, err := blobs.Stat(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("audio of the pending recording left at %s: %v", key, err)
			}
			if files := objectFiles(t, dir); len(files) != 0 {
				t.Errorf("blob store holds %v after the delete", files)
			}
			if n := other.Workers.Drain(t.Context()); n != 0 {
				t.Errorf("%d more items ran once the audio was deleted, want none", n)
			}
		})
	}
}

// TestDeleteWhileTheBucketIsDown deletes an archived call while the bucket
// holding its audio hangs on every request: the DELETE answers 204 at once,
// since it only records the deletion of the audio, and the workers keep
// trying until the bucket answers again, then delete every version of the
// object. Meanwhile the call stays deleted.
func TestDeleteWhileTheBucketIsDown(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			f := s3test.NewVersioned(t)
			blobs, err := s3store.NewWithClient(f.Client(0), s3store.Config{Bucket: s3test.Bucket})
			if err != nil {
				t.Fatal(err)
			}
			// A short lease bounds each attempt at the hanging bucket.
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t), Blobs: blobs, Configure: func(c *service.Config) {
				c.Worker.Lease = 2 * time.Second
			}})
			call := twiliotest.NewCall(servicetest.AccountSID)
			in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
			recSID := twiliotest.SID("RE")
			in.Media.Add(recSID, bytes.Repeat([]byte("audio-in-a-bucket-"), 1000))
			endCall(t, in, call)
			completeRecording(t, in, call, recSID)
			servicetest.Eventually(t, 10*time.Second, "recording stored", func() bool {
				return recordingOf(t, in, call.CallSID).State == storage.RecordingStored
			})
			stored, err := in.Calls.GetRecording(t.Context(), call.CallSID, recSID)
			if err != nil {
				t.Fatal(err)
			}
			key := stored.BlobKey
			if vs := f.Versions(t, key); len(vs) != 1 {
				t.Fatalf("the bucket holds %v, want the recording's one version", vs)
			}

			f.SetFault(func(*http.Request) s3test.Fault { return s3test.Fault{Hang: true} })
			start := time.Now()
			deleteCall(t, in, call.CallSID)
			t.Logf("DELETE answered in %v with the bucket hanging", time.Since(start))
			if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
				t.Fatalf("GET after the DELETE: %d, want 404", r.Status)
			}

			// A worker tried, failed and keeps the purge with its error. The
			// test peeks at it between two attempts (past the retry's
			// backoff, never past a worker's live lease) and hands it back.
			var last string
			peek := func() (storage.Purge, bool) {
				p, ok, err := in.Calls.ClaimPurge(t.Context(), time.Now().Add(100*time.Millisecond), time.Minute)
				if err != nil {
					t.Fatalf("ClaimPurge: %v", err)
				}
				if ok {
					if err := in.Calls.ReleasePurge(t.Context(), p); err != nil {
						t.Fatalf("ReleasePurge: %v", err)
					}
				}
				return p, ok
			}
			servicetest.Eventually(t, 20*time.Second, "a failed attempt at the purge", func() bool {
				p, ok := peek()
				last = p.LastError
				return ok && last != ""
			})
			t.Logf("the pending purge's last error: %s", last)
			if vs := f.Versions(t, key); len(vs) != 1 {
				t.Errorf("the bucket holds %v while it hangs, want what it had", vs)
			}
			if n, err := in.Calls.PurgeTombstones(t.Context(), time.Now().Add(time.Hour), 10); err != nil || n != 0 {
				t.Errorf("PurgeTombstones while the purge is pending = %d, %v; want 0", n, err)
			}
			if r := in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "SequenceNumber", "9")); r.Status != http.StatusNoContent {
				t.Errorf("late status callback: %d", r.Status)
			}
			if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
				t.Errorf("GET after a late callback: %d, want 404", r.Status)
			}

			f.SetFault(nil)
			servicetest.Eventually(t, 30*time.Second, "the audio deleted once the bucket is back", func() bool {
				return len(f.Versions(t, key)) == 0
			})
			// The tombstone was kept while the purge was pending; once the
			// purge is finished it may go.
			servicetest.Eventually(t, 10*time.Second, "the purge finished", func() bool {
				n, err := in.Calls.PurgeTombstones(t.Context(), time.Now().Add(time.Hour), 10)
				if err != nil {
					t.Fatalf("PurgeTombstones: %v", err)
				}
				return n == 1
			})
		})
	}
}

// TestDeleteRemovesAnUploadThatLandsAfterIt: a worker is archiving the
// recording when the call is deleted; its upload lands after the delete
// committed and the worker dies before it can delete the object itself.
// The purge the delete recorded waits for that worker's lease to end, by
// which time the upload is over, and then deletes the object.
func TestDeleteRemovesAnUploadThatLandsAfterIt(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			blobs, dir := mustBlobDir(t)
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t), Blobs: blobs, NoWorkers: true})
			call := twiliotest.NewCall(servicetest.AccountSID)
			in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
			recSID := twiliotest.SID("RE")
			in.Media.Add(recSID, []byte("audio"))
			endCall(t, in, call)
			completeRecording(t, in, call, recSID)
			stored, err := in.Calls.GetRecording(t.Context(), call.CallSID, recSID)
			if err != nil {
				t.Fatal(err)
			}
			// The test is the worker: it holds the archive for a short lease.
			const lease = 2 * time.Second
			var archive storage.Work
			for archive.Lease == "" {
				w, ok, err := in.Calls.ClaimWork(t.Context(), time.Now(), lease)
				if err != nil || !ok {
					t.Fatalf("ClaimWork = %v, %v; want the recording's archive", ok, err)
				}
				if w.Kind == storage.WorkArchiveRecording {
					archive = w
				}
			}

			deleteCall(t, in, call.CallSID)
			// The upload lands; the worker dies before its cleanup.
			key := stored.ArchiveKey()
			if _, err := blobs.Put(t.Context(), key, strings.NewReader("landed after the delete"), "audio/x-wav"); err != nil {
				t.Fatal(err)
			}

			other := servicetest.Start(t, servicetest.Options{Calls: in.Calls, Blobs: blobs, Media: in.Media})
			servicetest.Eventually(t, lease+20*time.Second, "the late upload deleted once the archive's lease ended", func() bool {
				return len(objectFiles(t, dir)) == 0
			})
			if now := time.Now(); now.Before(archive.LeaseUntil) {
				t.Errorf("the object was deleted at %v, before the archive's lease ended at %v: the purge did not wait", now, archive.LeaseUntil)
			}
			other.StopWorkers()
		})
	}
}

// TestDeleteUnderLambda: under Lambda nothing runs after a response, so
// the DELETE answers with the audio's deletion recorded and the next
// scheduled invocation carries it out.
func TestDeleteUnderLambda(t *testing.T) {
	for _, cs := range callStores {
		t.Run(cs.name, func(t *testing.T) {
			blobs, dir := mustBlobDir(t)
			in := servicetest.Start(t, servicetest.Options{Calls: cs.open(t), Blobs: blobs, NoWorkers: true})
			fn := in.Service.LambdaFunction()
			scheduled := func() int {
				t.Helper()
				out, err := fn.Invoke(t.Context(), []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
				if err != nil {
					t.Fatalf("scheduled invocation: %v", err)
				}
				var got struct{ Processed int }
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("scheduled invocation answered %s: %v", out, err)
				}
				return got.Processed
			}
			call := twiliotest.NewCall(servicetest.AccountSID)
			in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
			recSID := twiliotest.SID("RE")
			in.Media.Add(recSID, []byte("audio archived by a scheduled run"))
			endCall(t, in, call)
			completeRecording(t, in, call, recSID)
			scheduled()
			if rec := recordingOf(t, in, call.CallSID); rec.State != storage.RecordingStored {
				t.Fatalf("recording %s after a scheduled run, want stored", rec.State)
			}

			ev, _ := json.Marshal(map[string]any{
				"version": "2.0", "routeKey": "$default", "rawPath": "/api/v1/calls/" + call.CallSID, "rawQueryString": "",
				"headers": map[string]string{"authorization": "Bearer " + servicetest.APIToken, "host": "abc.execute-api.eu-west-1.amazonaws.com"},
				"requestContext": map[string]any{
					"http":      map[string]string{"method": http.MethodDelete, "path": "/api/v1/calls/" + call.CallSID, "sourceIp": "203.0.113.9", "protocol": "HTTP/1.1"},
					"requestId": "apigw-1", "stage": "$default", "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
				},
				"isBase64Encoded": false,
			})
			out, err := fn.Invoke(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE under Lambda: %s (%v), want 204", out, err)
			}
			if files := objectFiles(t, dir); len(files) != 1 {
				t.Fatalf("objects once the DELETE answered: %v, want the recording's until the next scheduled run", files)
			}
			if n := scheduled(); n < 1 {
				t.Errorf("the scheduled run processed %d items, want the purge", n)
			}
			if files := objectFiles(t, dir); len(files) != 0 {
				t.Errorf("objects after the scheduled run: %v, want none", files)
			}
			if in.Media.Deletes(recSID) != 1 {
				t.Errorf("the media was deleted %d times at Twilio, want once", in.Media.Deletes(recSID))
			}
		})
	}
}
