package e2e

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// severable is an instance's call store that can be cut off from the
// database at once, as it is when the process is killed: from then on
// nothing the instance does reaches the database. It remembers the work
// and the audio purges it claimed and how many releases were attempted
// after the cut.
type severable struct {
	storage.Store
	cut atomic.Bool

	mu             sync.Mutex
	claimed        []storage.Work
	purges         []storage.Purge
	releaseRefused int
}

var errKilled = storage.Errorf(storage.ErrUnavailable, "instance killed")

func (s *severable) ClaimWork(ctx context.Context, now time.Time, lease time.Duration) (storage.Work, bool, error) {
	if s.cut.Load() {
		return storage.Work{}, false, errKilled
	}
	w, ok, err := s.Store.ClaimWork(ctx, now, lease)
	if ok {
		s.mu.Lock()
		s.claimed = append(s.claimed, w)
		s.mu.Unlock()
	}
	return w, ok, err
}

func (s *severable) ReleaseWork(ctx context.Context, w storage.Work) error {
	if s.cut.Load() {
		s.mu.Lock()
		s.releaseRefused++
		s.mu.Unlock()
		return errKilled
	}
	return s.Store.ReleaseWork(ctx, w)
}

func (s *severable) FailWork(ctx context.Context, w storage.Work, f storage.Failure) error {
	if s.cut.Load() {
		return errKilled
	}
	return s.Store.FailWork(ctx, w, f)
}

func (s *severable) CompleteRecording(ctx context.Context, w storage.Work, b storage.StoredBlob, del bool) error {
	if s.cut.Load() {
		return errKilled
	}
	return s.Store.CompleteRecording(ctx, w, b, del)
}

func (s *severable) CompleteSummary(ctx context.Context, w storage.Work, sum storage.Summary, analyze bool) error {
	if s.cut.Load() {
		return errKilled
	}
	return s.Store.CompleteSummary(ctx, w, sum, analyze)
}

func (s *severable) CompleteWork(ctx context.Context, w storage.Work) error {
	if s.cut.Load() {
		return errKilled
	}
	return s.Store.CompleteWork(ctx, w)
}

// countingBlobs counts the objects written in full.
type countingBlobs struct {
	storage.BlobStore
	puts atomic.Int64
}

func (b *countingBlobs) Put(ctx context.Context, key string, r io.Reader, contentType string) (storage.BlobInfo, error) {
	info, err := b.BlobStore.Put(ctx, key, r, contentType)
	if err == nil {
		b.puts.Add(1)
	}
	return info, err
}

// TestInstanceKilledWhileArchiving kills an instance in the middle of a
// recording download: its worker stops and nothing more it does reaches the
// database, so the claim is never released. Another instance takes the
// work once the lease has expired and archives the recording, once.
func TestInstanceKilledWhileArchiving(t *testing.T) {
	const lease = 2 * time.Second
	dbURL := pgtest.MigratedURL(t)
	media := mustMedia(t)
	local, blobDir := mustBlobs(t)
	blobs := &countingBlobs{BlobStore: local}
	shortLease := func(c *service.Config) { c.Worker.Lease = lease }

	doomedStore := &severable{Store: mustOpen(t, storeConfig(dbURL))}
	doomed := servicetest.Start(t, servicetest.Options{Calls: doomedStore, Blobs: blobs, Media: media, Configure: shortLease})

	call := twiliotest.NewCall(servicetest.AccountSID)
	if r := doomed.Webhook("/twilio/voice", call.Form()); r.Status != http.StatusOK {
		t.Fatalf("incoming call: %d %s", r.Status, r.Body)
	}
	audio := bytes.Repeat([]byte("0123456789abcdef"), 40000)
	recSID := twiliotest.SID("RE")
	media.Add(recSID, audio)
	release := media.Block(recSID)
	t.Cleanup(release)
	started := media.Started()
	if r := doomed.Webhook("/twilio/recording", recordingForm(call, media, recSID)); r.Status != http.StatusNoContent {
		t.Fatalf("recording callback: %d %s", r.Status, r.Body)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the download never started")
	}

	// Kill: cut the database off, then stop the worker in the middle of
	// its download. Its attempt to give the work back goes nowhere.
	doomedStore.cut.Store(true)
	doomed.StopWorkers()
	release()
	doomedStore.mu.Lock()
	claimed, refused := doomedStore.claimed, doomedStore.releaseRefused
	doomedStore.mu.Unlock()
	if len(claimed) != 1 || claimed[0].Kind != storage.WorkArchiveRecording || refused != 1 {
		t.Fatalf("killed instance claimed %+v and tried %d releases; want the archive work and one release", claimed, refused)
	}
	leaseUntil := claimed[0].LeaseUntil

	survivorStore := mustOpen(t, storeConfig(dbURL))
	if rec, err := survivorStore.GetRecording(t.Context(), call.CallSID, recSID); err != nil || rec.State != storage.RecordingPending || rec.Attempts != 1 {
		t.Fatalf("after the kill: %+v, %v; want pending after one attempt", rec, err)
	}
	survivor := servicetest.Start(t, servicetest.Options{Calls: survivorStore, Blobs: blobs, Media: media, Configure: shortLease})

	var rec storage.Recording
	servicetest.Eventually(t, 20*time.Second, "the survivor archiving the recording", func() bool {
		rec = recordingOf(t, survivor, call.CallSID)
		return rec.State != storage.RecordingPending
	})

	t.Run("StoredAfterTheLease", func(t *testing.T) {
		if rec.State != storage.RecordingStored || rec.SHA256 != twiliotest.SHA256(audio) || rec.Size != int64(len(audio)) || rec.LastError != "" {
			t.Fatalf("recording %+v; want stored with the audio's size and sha256", rec)
		}
		if rec.StoredAt == nil || rec.StoredAt.Before(leaseUntil) {
			t.Errorf("stored at %v, before the killed instance's lease ended at %v", rec.StoredAt, leaseUntil)
		}
		if rec.Attempts != 2 {
			t.Errorf("attempts = %d, want 2 (the killed instance's claim and the survivor's)", rec.Attempts)
		}
		if n := media.Gets(recSID); n != 2 {
			t.Errorf("media downloaded %d times, want 2", n)
		}
	})

	t.Run("OneObject", func(t *testing.T) {
		if n := blobs.puts.Load(); n != 1 {
			t.Errorf("%d objects written, want 1", n)
		}
		var objects []string
		err := filepath.WalkDir(filepath.Join(blobDir, "objects"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				objects = append(objects, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(objects) != 1 || !strings.HasSuffix(objects[0], recSID+".wav") {
			t.Errorf("objects in the blob store: %q; want the one recording", objects)
		}
		r := survivor.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/"+recSID+"/audio")
		if r.Status != http.StatusOK || r.Body != string(audio) {
			t.Errorf("audio through the API: %d, %d bytes; want 200 and the %d bytes", r.Status, len(r.Body), len(audio))
		}
	})
}

// recordingOf reads the call's only recording through the API.
func recordingOf(t *testing.T, in *servicetest.Instance, callSID string) storage.Recording {
	t.Helper()
	c := in.GetCall(callSID)
	if len(c.Recordings) != 1 {
		t.Fatalf("call has %d recordings, want 1", len(c.Recordings))
	}
	return c.Recordings[0]
}

func (s *severable) ClaimPurge(ctx context.Context, now time.Time, lease time.Duration) (storage.Purge, bool, error) {
	if s.cut.Load() {
		return storage.Purge{}, false, errKilled
	}
	p, ok, err := s.Store.ClaimPurge(ctx, now, lease)
	if ok {
		s.mu.Lock()
		s.purges = append(s.purges, p)
		s.mu.Unlock()
	}
	return p, ok, err
}

func (s *severable) FinishPurge(ctx context.Context, p storage.Purge) error {
	if s.cut.Load() {
		return errKilled
	}
	return s.Store.FinishPurge(ctx, p)
}

func (s *severable) FailPurge(ctx context.Context, p storage.Purge, msg string, retryAt time.Time) error {
	if s.cut.Load() {
		return errKilled
	}
	return s.Store.FailPurge(ctx, p, msg, retryAt)
}

func (s *severable) ReleasePurge(ctx context.Context, p storage.Purge) error {
	if s.cut.Load() {
		s.mu.Lock()
		s.releaseRefused++
		s.mu.Unlock()
		return errKilled
	}
	return s.Store.ReleasePurge(ctx, p)
}

// stuckDeletes is a blob store whose deletes never finish: each one says
// it started, then waits for its context, as a process stuck on a dying
// connection would.
type stuckDeletes struct {
	storage.BlobStore
	entered chan string
}

func (b *stuckDeletes) Delete(ctx context.Context, key string) error {
	select {
	case b.entered <- key:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestInstanceKilledAfterADelete kills the instance that answered a call's
// DELETE while its worker is deleting the audio: the deletion committed
// with the record of the purge, so another instance, once the killed
// one's lease has expired, deletes the object and the media at Twilio.
func TestInstanceKilledAfterADelete(t *testing.T) {
	const lease = 2 * time.Second
	dbURL := pgtest.MigratedURL(t)
	media := mustMedia(t)
	local, blobDir := mustBlobs(t)
	shortLease := func(c *service.Config) { c.Worker.Lease = lease }

	doomedStore := &severable{Store: mustOpen(t, storeConfig(dbURL))}
	doomedBlobs := &stuckDeletes{BlobStore: local, entered: make(chan string, 1)}
	doomed := servicetest.Start(t, servicetest.Options{Calls: doomedStore, Blobs: doomedBlobs, Media: media, Configure: shortLease})

	call := twiliotest.NewCall(servicetest.AccountSID)
	if r := doomed.Webhook("/twilio/voice", call.Form()); r.Status != http.StatusOK {
		t.Fatalf("incoming call: %d %s", r.Status, r.Body)
	}
	recSID := twiliotest.SID("RE")
	media.Add(recSID, bytes.Repeat([]byte("deleted-call-audio"), 1000))
	if r := doomed.Webhook("/twilio/recording", recordingForm(call, media, recSID)); r.Status != http.StatusNoContent {
		t.Fatalf("recording callback: %d %s", r.Status, r.Body)
	}
	if r := doomed.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")); r.Status != http.StatusNoContent {
		t.Fatalf("status: %d %s", r.Status, r.Body)
	}
	servicetest.Eventually(t, 20*time.Second, "the recording archived", func() bool {
		return recordingOf(t, doomed, call.CallSID).State == storage.RecordingStored
	})
	objects := func() []string {
		var files []string
		err := filepath.WalkDir(filepath.Join(blobDir, "objects"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	if files := objects(); len(files) != 1 {
		t.Fatalf("objects before the delete: %q, want the recording's", files)
	}

	if r := doomed.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	select {
	case <-doomedBlobs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed instance's worker never started deleting the audio")
	}
	// Kill: the database is cut off, then the worker stops mid-delete; its
	// attempt to hand the purge back goes nowhere.
	doomedStore.cut.Store(true)
	doomed.StopWorkers()
	doomedStore.mu.Lock()
	purges, refused := doomedStore.purges, doomedStore.releaseRefused
	doomedStore.mu.Unlock()
	if len(purges) != 1 || purges[0].CallSID != call.CallSID || refused != 1 {
		t.Fatalf("killed instance claimed purges %+v and tried %d releases; want the call's purge and one release", purges, refused)
	}
	if files := objects(); len(files) != 1 {
		t.Fatalf("objects after the kill: %q, want the recording's still there", files)
	}

	survivor := servicetest.Start(t, servicetest.Options{Calls: mustOpen(t, storeConfig(dbURL)), Blobs: local, Media: media, Configure: shortLease})
	servicetest.Eventually(t, lease+20*time.Second, "the survivor deleting the audio", func() bool {
		return len(objects()) == 0 && media.Deletes(recSID) >= 1
	})
	if now := time.Now(); now.Before(purges[0].LeaseUntil) {
		t.Errorf("audio deleted at %v, before the killed instance's lease ended at %v", now, purges[0].LeaseUntil)
	}
	if r := survivor.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42", "SequenceNumber", "7")); r.Status != http.StatusNoContent {
		t.Errorf("late status callback: %d", r.Status)
	}
	if r := survivor.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusNotFound {
		t.Errorf("GET the deleted call: %d, want 404", r.Status)
	}
}
