package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/handlers/twiliotest"
	"switchboard/storage"
	"switchboard/storage/memory"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
	s3store "switchboard/storage/s3"
	"switchboard/storage/s3/s3test"
)

// The retention tests run the pool against each call store, the two S3
// regions (a versioned recordings bucket and its replica, as in the
// erasure tests) and a fake of Twilio's media API.

const (
	retAccount = "AC0123456789abcdef0123456789abcdef"
	retToken   = "retention-test-token"
)

// stores are the call stores the retention tests run against.
var stores = []struct {
	name string
	open func(t *testing.T) storage.Store
}{
	{"Memory", func(t *testing.T) storage.Store { return memory.New() }},
	{"Postgres", func(t *testing.T) storage.Store {
		s, err := postgres.Open(context.Background(), postgres.Config{
			URL: pgtest.MigratedURL(t), MaxConns: 10, ConnectTimeout: 3 * time.Second, QueryTimeout: 10 * time.Second,
		})
		if err != nil {
			t.Fatalf("opening the PostgreSQL call store: %v", err)
		}
		t.Cleanup(s.Close)
		return s
	}},
}

// retentionRig is a call store, both buckets, the Twilio fake and a pool
// keeping calls 30 days, whose clock the test sets.
type retentionRig struct {
	calls            storage.Store
	a, b             *s3test.Server
	primary, replica *s3store.Store
	media            *twiliotest.Media
	pool             *Pool
	logs             *syncBuffer
	reg              *prometheus.Registry
	now              time.Time
	cfg              Config
}

func newRetentionRig(t *testing.T, calls storage.Store, tune func(*Config)) *retentionRig {
	t.Helper()
	r := &retentionRig{calls: calls, a: s3test.NewVersioned(t), b: s3test.NewReplica(t), logs: &syncBuffer{}, now: time.Now().UTC()}
	cfg := s3store.Config{Bucket: s3test.Bucket, Prefix: prefix, ReplicaBucket: s3test.ReplicaBucket, ReplicaRegion: "eu-central-1"}
	var err error
	if r.primary, err = s3store.NewWithClient(r.a.Client(0), cfg); err != nil {
		t.Fatal(err)
	}
	rc, _ := cfg.Replica()
	if r.replica, err = s3store.NewWithClient(r.b.Client(2*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	r.media = twiliotest.NewMedia(retAccount, retToken)
	t.Cleanup(r.media.Close)
	r.cfg = DefaultConfig()
	r.cfg.Size, r.cfg.SummaryTimeout, r.cfg.RetentionDays = 1, time.Minute, 30
	r.cfg.BackoffBase, r.cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	if tune != nil {
		tune(&r.cfg)
	}
	r.pool = r.newPool(calls)
	return r
}

// newPool is a pool on the rig, as a fresh process would start one.
func (r *retentionRig) newPool(calls storage.Store) *Pool {
	r.reg = prometheus.NewRegistry()
	p := New(r.cfg, Deps{
		Calls: calls, Work: calls, Blobs: r.primary, Log: slog.New(slog.NewJSONHandler(r.logs, nil)), Registry: r.reg,
		Twilio:   NewTwilio(r.media.URL, retAccount, retToken),
		Versions: assistant.NewVersions(calls, storage.Assistant{ID: storage.DefaultAssistantID}), Assistant: assistant.NewScripted(), Analyses: calls,
		Erasures: calls, Buckets: map[string]storage.BlobStore{s3test.Bucket: r.primary, s3test.ReplicaBucket: r.replica},
		Retention: calls, ReplicaBucket: s3test.ReplicaBucket,
	})
	p.now = func() time.Time { return r.now }
	return p
}

// archivedCall creates call n at time at with a turn, a summary-worthy
// ending and one recording archived in the primary bucket (two versions,
// as a retried archive leaves), replicated to the replica bucket and
// still at Twilio. It returns the call's SID, the recording's SID and its
// object key (with the prefix).
func (r *retentionRig) archivedCall(t *testing.T, n int, at time.Time) (string, string, string) {
	t.Helper()
	ctx := t.Context()
	sid, rsid := fmt.Sprintf("CA%032x", n), fmt.Sprintf("RE%032x", n)
	if _, _, err := r.calls.StartCall(ctx, storage.NewCall{SID: sid, AccountSID: retAccount, At: at}, storage.Turn{Role: storage.RoleAssistant, Text: "Hello!"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.calls.AddTurn(ctx, storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleCaller, Text: "my card is [card]", Confidence: -1}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := r.calls.AddRecording(ctx, storage.Recording{SID: rsid, CallSID: sid, AccountSID: retAccount, StartedAt: &at, State: storage.RecordingPending})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.calls.ApplyStatus(ctx, storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, At: at.Add(time.Minute), Sequence: -1}); err != nil {
		t.Fatal(err)
	}
	key := rec.ArchiveKey()
	for seed := range 2 {
		body := s3test.Bytes(uint64(10*n+seed), 2048)
		if _, err := r.primary.Put(ctx, key, bytes.NewReader(body), "audio/wav"); err != nil {
			t.Fatal(err)
		}
		r.b.Replicate(t, prefix+key, body)
	}
	r.media.Add(rsid, s3test.Bytes(uint64(n), 64))
	// The recording's archiving is done (the two versions above).
	for {
		w, ok, err := r.calls.ClaimWork(ctx, r.now.Add(time.Hour), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if err := r.calls.CompleteWork(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	return sid, rsid, prefix + key
}

// drain runs what is due at the rig's time, the retention round first.
func (r *retentionRig) drain(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p.Drain(ctx)
}

func (r *retentionRig) exists(t *testing.T, sid string) bool {
	t.Helper()
	_, err := r.calls.GetCall(t.Context(), sid)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestRetention: a call older than RETENTION_DAYS loses its rows (turns,
// timeline, recordings, work), every version of its audio in both
// regions and its media at Twilio; a call inside the window keeps all of
// it; and what Twilio sends about the expired call afterwards stores
// nothing.
func TestRetention(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRetentionRig(t, st.open(t), nil)
			oldSID, oldRec, oldKey := r.archivedCall(t, 1, r.now.Add(-31*24*time.Hour))
			newSID, newRec, newKey := r.archivedCall(t, 2, r.now.Add(-29*24*time.Hour))
			r.drain(t, r.pool)
			if r.exists(t, oldSID) {
				t.Error("the call older than the window is still there")
			}
			if !r.exists(t, newSID) {
				t.Fatal("the call inside the window was deleted")
			}
			if vs := r.a.Versions(t, oldKey); len(vs) != 0 {
				t.Errorf("the primary bucket keeps %v of the expired call's audio", vs)
			}
			if vs := r.b.Versions(t, oldKey); len(vs) != 0 {
				t.Errorf("the replica bucket keeps %v of the expired call's audio after the first pass", vs)
			}
			if n := r.media.Deletes(oldRec); n != 1 {
				t.Errorf("Twilio got %d deletions of the expired call's recording, want 1", n)
			}
			if vs := r.a.Versions(t, newKey); len(vs) != 2 {
				t.Errorf("the primary bucket keeps %v of the newer call's audio, want both versions", vs)
			}
			if vs := r.b.Versions(t, newKey); len(vs) != 2 {
				t.Errorf("the replica bucket keeps %v of the newer call's audio, want both versions", vs)
			}
			if n := r.media.Deletes(newRec); n != 0 {
				t.Errorf("Twilio got %d deletions of the newer call's recording", n)
			}
			c, err := r.calls.GetCall(t.Context(), newSID)
			if err != nil || len(c.Turns) != 2 || len(c.Recordings) != 1 {
				t.Errorf("the newer call lost parts: %d turns, %d recordings, %v", len(c.Turns), len(c.Recordings), err)
			}
			// The replica erasure's second pass, after the recheck delay.
			r.now = r.now.Add(r.cfg.ReplicaRecheck + time.Minute)
			r.drain(t, r.pool)
			if b, err := r.calls.ErasureBacklog(t.Context()); err != nil || b.Pending != 0 {
				t.Errorf("erasures left: %+v %v", b, err)
			}
			// Twilio's late callbacks about the expired call store nothing.
			ctx := t.Context()
			if _, err := r.calls.ApplyStatus(ctx, storage.NewCall{SID: oldSID}, storage.StatusEvent{Status: storage.StatusCompleted, At: r.now, Sequence: 9}); !errors.Is(err, storage.ErrGone) {
				t.Errorf("late status callback: %v, want ErrGone", err)
			}
			if _, _, err := r.calls.AddRecording(ctx, storage.Recording{SID: oldRec, CallSID: oldSID, AccountSID: retAccount, State: storage.RecordingPending}); !errors.Is(err, storage.ErrGone) {
				t.Errorf("late recording callback: %v, want ErrGone", err)
			}
			if r.exists(t, oldSID) {
				t.Error("a late callback brought the expired call back")
			}
			if got := metricValue(t, r.reg, "switchboard_retention_expired_calls_total", nil); got != 1 {
				t.Errorf("switchboard_retention_expired_calls_total = %v, want 1", got)
			}
		})
	}
}

// TestRetentionOff: RETENTION_DAYS=0 keeps every call.
func TestRetentionOff(t *testing.T) {
	r := newRetentionRig(t, memory.New(), func(c *Config) { c.RetentionDays = 0 })
	sid, _, key := r.archivedCall(t, 1, r.now.Add(-3650*24*time.Hour))
	r.drain(t, r.pool)
	if !r.exists(t, sid) || len(r.a.Versions(t, key)) != 2 {
		t.Error("RETENTION_DAYS=0 deleted a call")
	}
}

// batchCounter records the size of every batch the pool expires.
type batchCounter struct {
	storage.Store
	mu      sync.Mutex
	batches []int
}

func (b *batchCounter) ExpireCalls(ctx context.Context, before time.Time, limit int, o storage.DeleteOptions) (int, error) {
	n, err := b.Store.ExpireCalls(ctx, before, limit, o)
	b.mu.Lock()
	b.batches = append(b.batches, n)
	b.mu.Unlock()
	return n, err
}

// TestRetentionBatches: 2,500 expired calls go in batches of
// RETENTION_BATCH, each its own transaction, and the 10 calls inside the
// window stay.
func TestRetentionBatches(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			counter := &batchCounter{Store: st.open(t)}
			r := newRetentionRig(t, counter, func(c *Config) { c.RetentionBatch = 1000 })
			old := r.now.Add(-40 * 24 * time.Hour)
			for n := range 2510 {
				at := old.Add(time.Duration(n) * time.Second)
				if n >= 2500 {
					at = r.now.Add(-time.Duration(n) * time.Minute)
				}
				if _, err := counter.ApplyStatus(t.Context(), storage.NewCall{SID: fmt.Sprintf("CA%032x", n+1), AccountSID: retAccount, At: at},
					storage.StatusEvent{Status: storage.StatusCompleted, At: at, Sequence: -1}); err != nil {
					t.Fatal(err)
				}
			}
			r.drain(t, r.pool)
			if want := []int{1000, 1000, 500}; fmt.Sprint(counter.batches) != fmt.Sprint(want) {
				t.Errorf("batches %v, want %v", counter.batches, want)
			}
			page, err := counter.ListCalls(t.Context(), storage.CallFilter{Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Calls) != 10 || page.NextCursor != "" {
				t.Errorf("%d calls left (more: %v), want the 10 inside the window", len(page.Calls), page.NextCursor != "")
			}
		})
	}
}

// TestRetentionResumes: a process that dies after a batch committed, or
// while it held a purge, loses nothing: the purge is durable, and a fresh
// pool (another instance, or the same one restarted) carries it out once
// the dead one's lease has expired.
func TestRetentionResumes(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			calls := st.open(t)
			r := newRetentionRig(t, calls, nil)
			sidA, recA, keyA := r.archivedCall(t, 1, r.now.Add(-31*24*time.Hour))
			sidB, recB, keyB := r.archivedCall(t, 2, r.now.Add(-32*24*time.Hour))
			// The first process expired both calls and died before
			// deleting any audio, holding the purge it had claimed.
			if n, err := calls.ExpireCalls(t.Context(), r.now.Add(-30*24*time.Hour), 10, storage.DeleteOptions{ReplicaBucket: s3test.ReplicaBucket}); err != nil || n != 2 {
				t.Fatalf("ExpireCalls: %d %v", n, err)
			}
			held, ok, err := calls.ClaimPurge(t.Context(), r.now, r.cfg.Lease)
			if err != nil || !ok {
				t.Fatalf("the dead process's claim: %+v %v %v", held, ok, err)
			}
			// free is the other call's purge, which nobody holds.
			freeRec, freeKey, heldRec, heldKey := recA, keyA, recB, keyB
			if held.CallSID == sidA {
				freeRec, freeKey, heldRec, heldKey = recB, keyB, recA, keyA
			}
			// A fresh process deletes the free purge's audio at once and
			// leaves the held one to its holder until the lease ends.
			p := r.newPool(calls)
			r.drain(t, p)
			if r.exists(t, sidA) || r.exists(t, sidB) {
				t.Fatal("an expired call is back")
			}
			if vs := r.a.Versions(t, freeKey); len(vs) != 0 || r.media.Deletes(freeRec) != 1 {
				t.Errorf("the free purge's audio: versions %v, Twilio deletions %d", vs, r.media.Deletes(freeRec))
			}
			if vs := r.a.Versions(t, heldKey); len(vs) != 2 || r.media.Deletes(heldRec) != 0 {
				t.Errorf("audio was deleted under another process's lease: versions %v", vs)
			}
			r.now = r.now.Add(r.cfg.Lease + time.Second)
			r.drain(t, p)
			if vs := r.a.Versions(t, heldKey); len(vs) != 0 || r.media.Deletes(heldRec) != 1 {
				t.Errorf("the held purge's audio after the lease expired: versions %v, Twilio deletions %d", vs, r.media.Deletes(heldRec))
			}
			for _, key := range []string{keyA, keyB} {
				if vs := r.b.Versions(t, key); len(vs) != 0 {
					t.Errorf("the replica keeps %v of %s", vs, key)
				}
			}
			if _, ok, _ := calls.ClaimPurge(t.Context(), r.now.Add(time.Hour), r.cfg.Lease); ok {
				t.Error("a purge is left after both were done")
			}
		})
	}
}

// TestRetentionPurgeRetries: while the bucket refuses, the purge keeps its
// error and is retried; the tombstone stays meanwhile.
func TestRetentionPurgeRetries(t *testing.T) {
	r := newRetentionRig(t, memory.New(), nil)
	sid, _, key := r.archivedCall(t, 1, r.now.Add(-31*24*time.Hour))
	r.a.SetFault(func(req *http.Request) s3test.Fault {
		if s3test.Op(req) == "DeleteObject" {
			return s3test.Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown"}
		}
		return s3test.Fault{}
	})
	if n := r.pool.retain(t.Context(), true); n != 1 {
		t.Fatalf("retain expired %d calls, want 1", n)
	}
	if !r.pool.runPurge(t.Context()) {
		t.Fatal("no purge was due")
	}
	if got := metricValue(t, r.reg, "switchboard_retention_purge_attempts_total", map[string]string{"outcome": "retry"}); got != 1 {
		t.Errorf("retry attempts = %v, want 1", got)
	}
	r.a.SetFault(nil)
	r.now = r.now.Add(time.Second)
	r.drain(t, r.pool)
	if vs := r.a.Versions(t, key); len(vs) != 0 {
		t.Errorf("versions left after the retry: %v", vs)
	}
	if _, _, err := r.calls.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); !errors.Is(err, storage.ErrGone) {
		t.Errorf("StartCall after the purge: %v, want ErrGone (the tombstone outlives it)", err)
	}
}

// slowBatches is a database that cannot finish a batch larger than max
// within its query timeout.
type slowBatches struct {
	storage.Store
	max     int
	mu      sync.Mutex
	batches []int
}

func (s *slowBatches) ExpireCalls(ctx context.Context, before time.Time, limit int, o storage.DeleteOptions) (int, error) {
	if limit > s.max {
		return 0, storage.Errorf(storage.ErrUnavailable, "expire calls: timeout: context deadline exceeded")
	}
	n, err := s.Store.ExpireCalls(ctx, before, limit, o)
	s.mu.Lock()
	s.batches = append(s.batches, n)
	s.mu.Unlock()
	return n, err
}

// TestRetentionSmallerBatches: when the database cannot finish a batch of
// RETENTION_BATCH in time, the round goes on with halved batches instead
// of stalling on the same failure every round.
func TestRetentionSmallerBatches(t *testing.T) {
	slow := &slowBatches{Store: memory.New(), max: 300}
	r := newRetentionRig(t, slow, func(c *Config) { c.RetentionBatch = 1000 })
	old := r.now.Add(-40 * 24 * time.Hour)
	for n := range 1000 {
		if _, err := slow.ApplyStatus(t.Context(), storage.NewCall{SID: fmt.Sprintf("CA%032x", n+1), At: old.Add(time.Duration(n) * time.Second)},
			storage.StatusEvent{Status: storage.StatusCompleted, At: old, Sequence: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.pool.retain(t.Context(), true); n != 1000 {
		t.Errorf("retain expired %d calls, want all 1000", n)
	}
	if want := "[250 250 250 250 0]"; fmt.Sprint(slow.batches) != want {
		t.Errorf("batches %v, want %s (1000 and 500 refused)", slow.batches, want)
	}
	if !strings.Contains(r.logs.String(), "trying smaller ones") {
		t.Error("the smaller batches were not logged")
	}
}

// TestRetentionSteps: the other kinds of data kept per call (event
// deliveries) join each round through Deps.RetentionSteps, with the same
// window and batches, until a batch comes back short; a failing step is
// logged and does not stop the others.
func TestRetentionSteps(t *testing.T) {
	calls := memory.New()
	r := newRetentionRig(t, calls, func(c *Config) { c.RetentionBatch = 10 })
	type call struct {
		before time.Time
		limit  int
	}
	var got []call
	left := 25
	steps := []RetentionStep{
		{Name: "broken", Purge: func(context.Context, time.Time, int) (int, error) {
			return 0, errors.New("table missing")
		}},
		{Name: "deliveries", Purge: func(_ context.Context, before time.Time, limit int) (int, error) {
			got = append(got, call{before, limit})
			n := min(left, limit)
			left -= n
			return n, nil
		}},
	}
	p := New(r.cfg, Deps{Calls: calls, Work: calls, Blobs: r.primary, Log: slog.New(slog.NewJSONHandler(r.logs, nil)),
		Retention: calls, RetentionSteps: steps})
	p.now = func() time.Time { return r.now }
	p.retain(t.Context(), true)
	want := r.now.Add(-30 * 24 * time.Hour)
	if len(got) != 3 || left != 0 {
		t.Fatalf("the step ran %d batches leaving %d, want 3 batches and none left", len(got), left)
	}
	for _, c := range got {
		if !c.before.Equal(want) || c.limit != 10 {
			t.Errorf("step batch before %v limit %d, want %v and RETENTION_BATCH", c.before, c.limit, want)
		}
	}
	logs := r.logs.String()
	if !strings.Contains(logs, `"step":"broken"`) || !strings.Contains(logs, `"step":"deliveries","count":25`) {
		t.Errorf("the steps' outcomes are not logged:\n%s", logs)
	}
}
