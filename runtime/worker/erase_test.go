package worker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/storage"
	"switchboard/storage/memory"
	s3store "switchboard/storage/s3"
	"switchboard/storage/s3/s3test"
)

// The replica erasure tests run the pool's erasures against two fake S3
// servers, each a region: a versioned recordings bucket and the versioned
// replica bucket S3 replication copies it into. Replication is played by
// the test (s3test's Replicate), at the moments that matter: before the
// deletion, and after the first pass.

// prefix is the deployment's S3_PREFIX, the same in both buckets.
const prefix = "prod/"

// replicaRig is a memory call store, both buckets with a storage/s3 Store
// on each, and a pool whose clock the test sets.
type replicaRig struct {
	calls            *memory.Store
	a, b             *s3test.Server
	primary, replica *s3store.Store
	pool             *Pool
	reg              *prometheus.Registry
	logs             *syncBuffer
	now              time.Time
}

func newReplicaRig(t *testing.T) *replicaRig {
	t.Helper()
	r := &replicaRig{calls: memory.New(), a: s3test.NewVersioned(t), b: s3test.NewReplica(t), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg := s3store.Config{Bucket: s3test.Bucket, Prefix: prefix, ReplicaBucket: s3test.ReplicaBucket, ReplicaRegion: "eu-central-1"}
	var err error
	if r.primary, err = s3store.NewWithClient(r.a.Client(0), cfg); err != nil {
		t.Fatal(err)
	}
	rc, ok := cfg.Replica()
	if !ok {
		t.Fatal("no replica configuration")
	}
	// A short client timeout: the replica's region may hang.
	if r.replica, err = s3store.NewWithClient(r.b.Client(2*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	wcfg := DefaultConfig()
	wcfg.Size, wcfg.SummaryTimeout = 1, time.Minute
	r.pool = New(wcfg, Deps{
		Calls: r.calls, Work: r.calls, Blobs: r.primary, Log: slog.New(slog.NewJSONHandler(r.logs, nil)), Registry: r.reg,
		Erasures: r.calls, Buckets: map[string]storage.BlobStore{s3test.Bucket: r.primary, s3test.ReplicaBucket: r.replica},
		Retention: r.calls,
	})
	r.now = time.Now()
	r.pool.now = func() time.Time { return r.now }
	return r
}

// archivedCall creates call n with one recording archived in the primary
// bucket (uploaded twice, as a retried archive does), replicated to the
// replica bucket, and ends the call. It returns the call's SID and the
// recording's object key (with the prefix).
func (r *replicaRig) archivedCall(t *testing.T, n int) (string, string) {
	t.Helper()
	ctx := t.Context()
	sid, account := fmt.Sprintf("CA%032x", n), fmt.Sprintf("AC%032x", n)
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	if _, _, err := r.calls.StartCall(ctx, storage.NewCall{SID: sid, AccountSID: account, At: at}, storage.Turn{}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := r.calls.AddRecording(ctx, storage.Recording{SID: fmt.Sprintf("RE%032x", n), CallSID: sid, AccountSID: account, StartedAt: &at})
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
	return sid, prefix + key
}

// deleteCall deletes the call as the calls API does: the store records
// the purge of the audio in the primary bucket and the replica erasure
// with the deletion, and a worker runs the purge at once. The primary's
// deletion starts with a plain DeleteObject, whose delete marker
// replication copies to the replica like any new version.
func (r *replicaRig) deleteCall(t *testing.T, sid, objectKey string) {
	t.Helper()
	if _, err := r.calls.DeleteCall(t.Context(), sid, storage.DeleteOptions{ReplicaBucket: s3test.ReplicaBucket}); err != nil {
		t.Fatal(err)
	}
	if !r.pool.runPurge(t.Context()) {
		t.Fatal("no purge of the deleted call's audio was due")
	}
	if _, err := r.b.Client(0).DeleteObject(t.Context(), &s3api.DeleteObjectInput{Bucket: aws.String(s3test.ReplicaBucket), Key: aws.String(objectKey)}); err != nil {
		t.Fatal(err)
	}
	if vs := r.a.Versions(t, objectKey); len(vs) != 0 {
		t.Fatalf("the primary bucket still holds %v after the delete", vs)
	}
	if vs := r.b.Versions(t, objectKey); len(vs) != 3 {
		t.Fatalf("the replica holds %v, want 2 versions and a delete marker before the erasure", vs)
	}
}

// erase runs one erasure pass at the rig's time and reports whether one was due.
func (r *replicaRig) erase(t *testing.T) bool {
	t.Helper()
	return r.pool.runErasure(t.Context())
}

func (r *replicaRig) wantBacklog(t *testing.T, want storage.ErasureBacklog) {
	t.Helper()
	got, err := r.calls.ErasureBacklog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("backlog %+v, want %+v", got, want)
	}
	if p, f := metricValue(t, r.reg, "switchboard_replica_erasures_pending", nil), metricValue(t, r.reg, "switchboard_replica_erasures_failing", nil); p != float64(want.Pending) || f != float64(want.Failing) {
		t.Errorf("gauges pending %v, failing %v; want %d, %d", p, f, want.Pending, want.Failing)
	}
}

func TestReplicaErasure(t *testing.T) {
	t.Run("NoVersionOrMarkerLeftInEitherBucket", func(t *testing.T) {
		r := newReplicaRig(t)
		sid, key := r.archivedCall(t, 1)
		_, keptKey := r.archivedCall(t, 2)
		r.deleteCall(t, sid, key)
		if b, err := r.calls.ErasureBacklog(t.Context()); err != nil || b.Pending != 1 {
			t.Fatalf("after the delete the backlog is %+v, %v; want the erasure pending", b, err)
		}

		if !r.erase(t) {
			t.Fatal("no erasure due right after the delete")
		}
		if vs := r.b.Versions(t, key); len(vs) != 0 {
			t.Errorf("after the first pass the replica holds %v", vs)
		}
		r.wantBacklog(t, storage.ErasureBacklog{Pending: 1})

		// A version that was still replicating lands after the first pass.
		r.b.Replicate(t, key, s3test.Bytes(99, 2048))
		r.now = r.now.Add(r.pool.cfg.ReplicaRecheck - time.Second)
		if r.erase(t) {
			t.Fatal("the second pass ran before S3_REPLICA_RECHECK passed")
		}
		r.now = r.now.Add(time.Second)
		if !r.erase(t) {
			t.Fatal("the second pass is not due S3_REPLICA_RECHECK after the first")
		}
		for name, f := range map[string]*s3test.Server{"primary": r.a, "replica": r.b} {
			if vs := f.Versions(t, key); len(vs) != 0 {
				t.Errorf("the %s bucket still holds %v of the deleted call's audio", name, vs)
			}
			if vs := f.Versions(t, keptKey); len(vs) != 2 {
				t.Errorf("the %s bucket holds %v of another call's audio, want its 2 versions", name, vs)
			}
		}
		r.wantBacklog(t, storage.ErasureBacklog{})
		r.now = r.now.Add(100 * r.pool.cfg.ReplicaRecheck)
		if r.erase(t) {
			t.Error("a third pass ran")
		}
		for pass := range storage.ErasurePasses {
			if n := metricValue(t, r.reg, "switchboard_replica_erasure_attempts_total", map[string]string{"pass": fmt.Sprint(pass + 1), "outcome": "ok"}); n != 1 {
				t.Errorf("pass %d counted %v times ok, want 1", pass+1, n)
			}
		}
		if !strings.Contains(r.logs.String(), "replica erasure done") {
			t.Errorf("no log line says the erasure is done:\n%s", r.logs)
		}
	})

	t.Run("ReplicaDownStaysPendingUntilItIsBack", func(t *testing.T) {
		r := newReplicaRig(t)
		r.pool.cfg.TombstoneRetention = time.Hour
		sid, key := r.archivedCall(t, 1)
		r.deleteCall(t, sid, key)
		r.b.SetFault(func(*http.Request) s3test.Fault { return s3test.Unreachable })

		for attempt := 1; attempt <= 3; attempt++ {
			if !r.erase(t) {
				t.Fatalf("attempt %d: no erasure due", attempt)
			}
			r.wantBacklog(t, storage.ErasureBacklog{Pending: 1, Failing: 1})
			if r.erase(t) {
				t.Fatalf("attempt %d was retried before its backoff", attempt)
			}
			r.now = r.now.Add(r.pool.cfg.BackoffMax * 2)
		}
		if n := metricValue(t, r.reg, "switchboard_replica_erasure_attempts_total", map[string]string{"pass": "1", "outcome": "retry"}); n != 3 {
			t.Errorf("%v failed attempts counted, want 3", n)
		}
		logs := r.logs.String()
		if !strings.Contains(logs, "replica erasure failed; will retry") || !strings.Contains(logs, sid) || !strings.Contains(logs, "erasing recordings/") {
			t.Errorf("the logs do not say which call's erasure failed and why:\n%s", logs)
		}
		// The error is kept on the erasure, where the next claim (and an
		// operator's query) sees it.
		e, ok, err := r.calls.ClaimErasure(t.Context(), r.now, time.Minute)
		if err != nil || !ok {
			t.Fatalf("ClaimErasure = %v, %v", ok, err)
		}
		if e.Attempts != 4 || !strings.Contains(e.LastError, "erasing "+strings.TrimPrefix(key, prefix)+" in bucket "+s3test.ReplicaBucket) || !strings.Contains(e.LastError, "blob store") {
			t.Errorf("pending erasure = attempt %d, last error %q; want attempt 4 and the replica's error", e.Attempts, e.LastError)
		}
		t.Logf("the pending erasure's last error: %s", e.LastError)
		if err := r.calls.ReleaseErasure(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		// Long past TOMBSTONE_RETENTION the call is still gone: its
		// tombstone waits for the erasure.
		r.now = r.now.Add(2 * r.pool.cfg.TombstoneRetention)
		r.pool.purgeTombstones(t.Context())
		if _, _, err := r.calls.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); err == nil {
			t.Fatal("the tombstone of a call with a pending erasure was purged")
		}
		if vs := r.b.Versions(t, key); len(vs) != 3 {
			t.Errorf("the replica holds %v while down, want what it had", vs)
		}

		// The region is back.
		r.b.SetFault(nil)
		if !r.erase(t) {
			t.Fatal("no erasure due once the replica is back")
		}
		r.wantBacklog(t, storage.ErasureBacklog{Pending: 1})
		if vs := r.b.Versions(t, key); len(vs) != 0 {
			t.Errorf("after the replica came back it still holds %v", vs)
		}
		r.now = r.now.Add(r.pool.cfg.ReplicaRecheck)
		if !r.erase(t) {
			t.Fatal("no second pass")
		}
		r.wantBacklog(t, storage.ErasureBacklog{})
		r.now = r.now.Add(purgeEvery)
		r.pool.purgeTombstones(t.Context())
		if _, _, err := r.calls.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); err != nil {
			t.Errorf("the tombstone outlived its erasure and TOMBSTONE_RETENTION: %v", err)
		}
	})

	t.Run("ReleasedAtShutdown", func(t *testing.T) {
		r := newReplicaRig(t)
		sid, key := r.archivedCall(t, 1)
		r.deleteCall(t, sid, key)
		r.b.SetFault(func(*http.Request) s3test.Fault { return s3test.Fault{Hang: true} })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan bool)
		go func() { done <- r.pool.runErasure(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for len(r.b.Requests()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the erasure never reached the replica")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if !<-done {
			t.Fatal("runErasure found nothing")
		}
		r.wantBacklog(t, storage.ErasureBacklog{Pending: 1})
		r.b.SetFault(nil)
		e, ok, err := r.calls.ClaimErasure(t.Context(), r.now, time.Minute)
		if err != nil || !ok || e.Attempts != 1 || e.LastError != "" {
			t.Errorf("after the release ClaimErasure = %+v, %v, %v; want it due at once, attempt 1, no error", e, ok, err)
		}
	})

	t.Run("DrainRunsTheDuePasses", func(t *testing.T) {
		// Where no pool runs all the time (Lambda's schedule, `switchboard
		// work`), each run does the passes that are due.
		r := newReplicaRig(t)
		sid, key := r.archivedCall(t, 1)
		r.deleteCall(t, sid, key)
		if n := r.pool.Drain(t.Context()); n != 1 {
			t.Errorf("first Drain ran %d items, want the first pass", n)
		}
		r.wantBacklog(t, storage.ErasureBacklog{Pending: 1})
		if n := r.pool.Drain(t.Context()); n != 0 {
			t.Errorf("Drain before the recheck ran %d items, want none", n)
		}
		r.now = r.now.Add(r.pool.cfg.ReplicaRecheck)
		if n := r.pool.Drain(t.Context()); n != 1 {
			t.Errorf("Drain after the recheck ran %d items, want the second pass", n)
		}
		r.wantBacklog(t, storage.ErasureBacklog{})
		if vs := r.b.Versions(t, key); len(vs) != 0 {
			t.Errorf("the replica still holds %v", vs)
		}
	})

	t.Run("ByBucketNameAcrossAFailover", func(t *testing.T) {
		// After a failover region B writes to its own bucket (the former
		// replica) and calls region A's its replica. An erasure recorded in
		// region A before the failure names B's bucket and is run there; a
		// call deleted in region B after it records one in A's bucket.
		r := newReplicaRig(t)
		before, beforeKey := r.archivedCall(t, 1)
		after, afterKey := r.archivedCall(t, 2)
		r.deleteCall(t, before, beforeKey)
		recs, err := r.calls.DeleteCall(t.Context(), after, storage.DeleteOptions{ReplicaBucket: s3test.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range storage.BlobKeys(recs) {
			if err := r.replica.Delete(t.Context(), key); err != nil { // region B's own bucket, at once
				t.Fatal(err)
			}
		}
		for range 2 {
			if !r.erase(t) {
				t.Fatal("an erasure is not due")
			}
		}
		for name, f := range map[string]*s3test.Server{"A": r.a, "B": r.b} {
			for _, key := range []string{beforeKey, afterKey} {
				if vs := f.Versions(t, key); len(vs) != 0 {
					t.Errorf("region %s's bucket still holds %v of %s", name, vs, key)
				}
			}
		}
		r.wantBacklog(t, storage.ErasureBacklog{Pending: 2})
	})

	t.Run("UnknownBucketWaitsWithItsError", func(t *testing.T) {
		r := newReplicaRig(t)
		sid, _ := r.archivedCall(t, 1)
		if _, err := r.calls.DeleteCall(t.Context(), sid, storage.DeleteOptions{ReplicaBucket: "recordings-elsewhere"}); err != nil {
			t.Fatal(err)
		}
		if !r.erase(t) {
			t.Fatal("no erasure due")
		}
		r.wantBacklog(t, storage.ErasureBacklog{Pending: 1, Failing: 1})
		if logs := r.logs.String(); !strings.Contains(logs, `bucket \"recordings-elsewhere\" is neither S3_BUCKET nor S3_REPLICA_BUCKET`) {
			t.Errorf("the logs do not say the bucket is unknown:\n%s", logs)
		}
	})

	t.Run("NothingWithoutAReplica", func(t *testing.T) {
		r := newReplicaRig(t)
		sid, key := r.archivedCall(t, 1)
		r.deleteCall(t, sid, key)
		// An instance without S3_REPLICA_BUCKET sharing the database
		// leaves the erasure to those that have it.
		bare := New(r.pool.cfg, Deps{Calls: r.calls, Work: r.calls, Blobs: r.primary, Erasures: r.calls, Log: quiet})
		if bare.erasures != nil {
			t.Error("a pool without bucket stores keeps the erasure queue")
		}
		if bare.runErasure(t.Context()) {
			t.Error("a pool without a replica store ran an erasure")
		}
		if n := bare.Drain(t.Context()); n != 0 {
			t.Errorf("Drain ran %d items, want none: the deletion took the call's work, and the erasure is not this pool's", n)
		}
		if b, err := r.calls.ErasureBacklog(t.Context()); err != nil || b.Pending != 1 {
			t.Errorf("backlog %+v, %v; want the erasure still pending", b, err)
		}
	})
}

// metricValue is the value of the gauge or counter name whose labels
// include want (0 when there is none).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

// syncBuffer is a log sink the pool and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
