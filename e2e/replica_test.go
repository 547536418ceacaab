package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
	s3store "switchboard/storage/s3"
	"switchboard/storage/s3/s3test"
)

// metricsOf reads the instance's /metrics as an operator's scraper does and
// returns the samples whose line starts with name (labels included), by
// their text before the value.
func metricsOf(t *testing.T, in *servicetest.Instance, name string) map[string]float64 {
	t.Helper()
	resp := in.API(http.MethodGet, "/metrics")
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(resp.Body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestReplicaErasureThroughTheAPI runs a whole switchboard on PostgreSQL
// whose recordings go to region A's bucket, which S3 replicates to region
// B's (S3_REPLICA_BUCKET), from a call's webhooks to its deletion through
// the calls API while region B is down. The DELETE succeeds at once and the
// workers delete the audio from A; the erasure in B waits, its error in the database
// and in the metrics; once B is back the workers erase every version there
// in two passes, the second one catching a version that replication
// delivered after the first.
func TestReplicaErasureThroughTheAPI(t *testing.T) {
	a, b := s3test.NewVersioned(t), s3test.NewReplica(t)
	cfg := s3store.Config{Bucket: s3test.Bucket, PartSize: s3store.MinPartSize, ReplicaBucket: s3test.ReplicaBucket, ReplicaRegion: "eu-central-1"}
	primary, err := s3store.NewWithClient(a.Client(0), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfg.Replica()
	replica, err := s3store.NewWithClient(b.Client(5*time.Second), rc)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := pgtest.MigratedURL(t)
	// The second pass comes late enough for the test to deliver the late
	// version after the first, with a wide margin.
	const recheck = 5 * time.Second
	in := servicetest.Start(t, servicetest.Options{
		Calls: mustOpen(t, storeConfig(dbURL)), Blobs: primary, Replica: replica,
		Configure: func(c *service.Config) {
			c.S3.Bucket, c.S3.ReplicaBucket, c.S3.ReplicaRegion = cfg.Bucket, cfg.ReplicaBucket, cfg.ReplicaRegion
			c.Worker.ReplicaRecheck = recheck
		},
	})
	r := &archiveRig{f: a, store: primary, in: in}

	call := twiliotest.NewCall(servicetest.AccountSID)
	audio := s3test.Bytes(77, 300<<10)
	recSID := r.record(t, call, audio)
	if resp := in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")); resp.Status != http.StatusNoContent {
		t.Fatalf("status: %d %s", resp.Status, resp.Body)
	}
	r.waitState(t, call.CallSID, storage.RecordingStored)
	key := objectKeyOf(call, recSID)
	b.Replicate(t, key, audio) // replication's copy, as of the archive

	// Region B goes down; the call is deleted meanwhile.
	b.SetFault(func(*http.Request) s3test.Fault { return s3test.Unreachable })
	if resp := in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID); resp.Status != http.StatusNoContent {
		t.Fatalf("DELETE with region B down: %d %s, want 204", resp.Status, resp.Body)
	}
	if resp := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); resp.Status != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", resp.Status)
	}
	servicetest.Eventually(t, 30*time.Second, "region A's copy removed by the workers", func() bool {
		return len(a.Versions(t, key)) == 0
	})

	// The erasure waits, and says why, where an operator looks: the
	// metrics and the blob_erasures table.
	servicetest.Eventually(t, 30*time.Second, "the failing erasure in /metrics", func() bool {
		return metricsOf(t, in, "switchboard_replica_erasures_failing")["switchboard_replica_erasures_failing"] == 1 &&
			metricsOf(t, in, "switchboard_replica_erasure_attempts_total")[`switchboard_replica_erasure_attempts_total{outcome="retry",pass="1"}`] >= 2
	})
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var sid, lastErr string
	var attempts int
	if err := conn.QueryRow(t.Context(), `SELECT call_sid, attempts, last_error FROM blob_erasures`).Scan(&sid, &attempts, &lastErr); err != nil {
		t.Fatalf("reading the pending erasure: %v", err)
	}
	if sid != call.CallSID || attempts < 2 || !strings.Contains(lastErr, "in bucket "+s3test.ReplicaBucket) || !strings.Contains(lastErr, recSID) {
		t.Errorf("pending erasure: call %s, %d attempts, last error %q; want %s, at least 2, the replica's error for %s", sid, attempts, lastErr, call.CallSID, recSID)
	}
	if vs := b.Versions(t, key); len(vs) != 1 {
		t.Errorf("region B holds %v while down, want its copy", vs)
	}
	// Twilio's late callbacks for the deleted call store nothing meanwhile.
	if resp := in.Webhook("/twilio/status", call.Form("CallStatus", "completed")); resp.Status != http.StatusNoContent {
		t.Errorf("late status callback: %d", resp.Status)
	}

	// Region B is back: the first pass erases its copy.
	b.SetFault(nil)
	firstDone := func() bool {
		return metricsOf(t, in, "switchboard_replica_erasure_attempts_total")[`switchboard_replica_erasure_attempts_total{outcome="ok",pass="1"}`] == 1
	}
	servicetest.Eventually(t, 30*time.Second, "the first pass", firstDone)
	if vs := b.Versions(t, key); len(vs) != 0 {
		t.Errorf("after the first pass region B holds %v", vs)
	}
	// A version replication still had in flight lands after the first pass.
	b.Replicate(t, key, audio)
	if metricsOf(t, in, "switchboard_replica_erasure_attempts_total")[`switchboard_replica_erasure_attempts_total{outcome="ok",pass="2"}`] != 0 {
		t.Fatalf("the second pass ran within %s of the first, before the late version landed", recheck)
	}
	servicetest.Eventually(t, 30*time.Second, "the second pass", func() bool {
		m := metricsOf(t, in, "switchboard_replica_erasure")
		return m[`switchboard_replica_erasure_attempts_total{outcome="ok",pass="2"}`] == 1 &&
			m["switchboard_replica_erasures_pending"] == 0 && m["switchboard_replica_erasures_failing"] == 0
	})
	for name, f := range map[string]*s3test.Server{"A": a, "B": b} {
		if vs := f.Versions(t, key); len(vs) != 0 {
			t.Errorf("region %s's bucket still holds %v of the deleted call's audio", name, vs)
		}
	}
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM blob_erasures`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d erasures left (%v), want none", left, err)
	}
}
