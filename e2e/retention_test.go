package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// killable is an instance's call store as the instance dies: from the
// moment cut is set none of its work or retention reaches the database.
type killable struct {
	storage.Store
	cut     atomic.Bool
	mu      sync.Mutex
	batches []int
	claimed []storage.Purge
}

func (k *killable) ExpireCalls(ctx context.Context, before time.Time, limit int, o storage.DeleteOptions) (int, error) {
	if k.cut.Load() {
		return 0, errKilled
	}
	n, err := k.Store.ExpireCalls(ctx, before, limit, o)
	k.mu.Lock()
	k.batches = append(k.batches, n)
	k.mu.Unlock()
	return n, err
}

func (k *killable) ClaimWork(ctx context.Context, now time.Time, lease time.Duration) (storage.Work, bool, error) {
	if k.cut.Load() {
		return storage.Work{}, false, errKilled
	}
	return k.Store.ClaimWork(ctx, now, lease)
}

func (k *killable) ClaimPurge(ctx context.Context, now time.Time, lease time.Duration) (storage.Purge, bool, error) {
	if k.cut.Load() {
		return storage.Purge{}, false, errKilled
	}
	p, ok, err := k.Store.ClaimPurge(ctx, now, lease)
	if ok {
		k.mu.Lock()
		k.claimed = append(k.claimed, p)
		k.mu.Unlock()
	}
	return p, ok, err
}

func (k *killable) FinishPurge(ctx context.Context, p storage.Purge) error {
	if k.cut.Load() {
		return errKilled
	}
	return k.Store.FinishPurge(ctx, p)
}

func (k *killable) FailPurge(ctx context.Context, p storage.Purge, msg string, retryAt time.Time) error {
	if k.cut.Load() {
		return errKilled
	}
	return k.Store.FailPurge(ctx, p, msg, retryAt)
}

func (k *killable) ReleasePurge(ctx context.Context, p storage.Purge) error {
	if k.cut.Load() {
		return errKilled
	}
	return k.Store.ReleasePurge(ctx, p)
}

// dyingBlobs kills the instance (cuts its store) at the first deletion of
// an object, which never happens: the process is gone.
type dyingBlobs struct {
	storage.BlobStore
	kill    func()
	deletes atomic.Int64
}

func (b *dyingBlobs) Delete(ctx context.Context, key string) error {
	if b.deletes.Add(1) == 1 {
		b.kill()
	}
	return errKilled
}

// objectsIn lists the files under the blob store's directory.
func objectsIn(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[filepath.Base(p)] = true
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// TestRetentionInstanceKilledMidPurge: an instance with RETENTION_DAYS=30
// expires 250 old calls in batches and dies in the middle of deleting the
// first one's audio, holding that purge. Another instance on the same
// database deletes the audio of every expired call (the one the dead
// instance held once its lease ends) and at Twilio, and the calls inside
// the window keep their rows and audio.
func TestRetentionInstanceKilledMidPurge(t *testing.T) {
	const lease = 2 * time.Second
	dbURL := pgtest.MigratedURL(t)
	media := mustMedia(t)
	local, blobDir := mustBlobs(t)
	retain := func(c *service.Config) {
		c.Worker.RetentionDays, c.Worker.RetentionBatch, c.Worker.Lease = 30, 100, lease
	}

	// The calls: 250 older than the window with a stored recording each,
	// 5 inside it with one each too.
	seed := mustOpen(t, storeConfig(dbURL))
	ctx := t.Context()
	type seeded struct{ sid, rec, object string }
	var old, recent []seeded
	now := time.Now().UTC()
	for i := range 255 {
		at := now.Add(-40*24*time.Hour + time.Duration(i)*time.Minute)
		if i >= 250 {
			at = now.Add(-time.Duration(i) * time.Hour)
		}
		sid, rsid := fmt.Sprintf("CA%032x", i+1), fmt.Sprintf("RE%032x", i+1)
		if _, _, err := seed.StartCall(ctx, storage.NewCall{SID: sid, AccountSID: servicetest.AccountSID, At: at}, storage.Turn{Role: storage.RoleAssistant, Text: "Hello!"}); err != nil {
			t.Fatal(err)
		}
		rec, _, err := seed.AddRecording(ctx, storage.Recording{SID: rsid, CallSID: sid, AccountSID: servicetest.AccountSID, StartedAt: &at, State: storage.RecordingPending})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := local.Put(ctx, rec.ArchiveKey(), bytes.NewReader([]byte("RIFF audio of "+sid)), "audio/wav"); err != nil {
			t.Fatal(err)
		}
		if _, err := seed.ApplyStatus(ctx, storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, At: at.Add(time.Minute), Sequence: -1}); err != nil {
			t.Fatal(err)
		}
		s := seeded{sid, rsid, rsid + ".wav"}
		if i < 250 {
			old = append(old, s)
		} else {
			recent = append(recent, s)
		}
	}
	// The recordings' archiving and the summaries are not what this test
	// is about: done before the instances start.
	for {
		w, ok, err := seed.ClaimWork(ctx, now.Add(time.Hour), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if err := seed.CompleteWork(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(objectsIn(t, blobDir)); n != 255 {
		t.Fatalf("%d objects seeded, want 255", n)
	}

	doomedStore := &killable{Store: mustOpen(t, storeConfig(dbURL))}
	var doomed *servicetest.Instance
	killed := make(chan struct{})
	blobs := &dyingBlobs{BlobStore: local, kill: func() {
		doomedStore.cut.Store(true)
		close(killed)
	}}
	doomed = servicetest.Start(t, servicetest.Options{Calls: doomedStore, Blobs: blobs, Media: media, Configure: retain})
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("the doomed instance never started deleting audio")
	}
	doomed.StopWorkers()
	doomedStore.mu.Lock()
	batches, claimed := doomedStore.batches, doomedStore.claimed
	doomedStore.mu.Unlock()
	if fmt.Sprint(batches) != "[100 100 50]" {
		t.Errorf("the doomed instance expired batches %v, want [100 100 50]", batches)
	}
	if len(claimed) != 1 {
		t.Fatalf("the doomed instance claimed %d purges before dying, want 1", len(claimed))
	}
	if n := len(objectsIn(t, blobDir)); n != 255 {
		t.Fatalf("%d objects after the kill, want all 255 (the dead instance deleted none)", n)
	}

	survivor := servicetest.Start(t, servicetest.Options{Calls: mustOpen(t, storeConfig(dbURL)), Blobs: local, Media: media, Configure: retain})
	servicetest.Eventually(t, 60*time.Second, "the survivor deleting the expired calls' audio", func() bool {
		return len(objectsIn(t, blobDir)) == len(recent)
	})
	left := objectsIn(t, blobDir)
	for _, s := range recent {
		if !left[s.object] {
			t.Errorf("the audio of %s, inside the window, was deleted", s.sid)
		}
		if r := survivor.API(http.MethodGet, "/api/v1/calls/"+s.sid); r.Status != http.StatusOK {
			t.Errorf("GET %s inside the window: %d", s.sid, r.Status)
		}
	}
	for _, s := range old {
		if n := media.Deletes(s.rec); n < 1 {
			t.Errorf("recording %s of an expired call was not deleted at Twilio", s.rec)
		}
		if r := survivor.API(http.MethodGet, "/api/v1/calls/"+s.sid); r.Status != http.StatusNotFound {
			t.Errorf("GET expired %s: %d", s.sid, r.Status)
		}
	}
	heldAt := claimed[0].LeaseUntil
	if time.Now().Before(heldAt) {
		t.Errorf("everything was deleted before the dead instance's lease on %s ended", claimed[0].CallSID)
	}
	servicetest.Eventually(t, 10*time.Second, "no purge left", func() bool {
		_, ok, err := seed.ClaimPurge(ctx, time.Now().Add(time.Hour), time.Second)
		return err == nil && !ok
	})
}
