package worker

import (
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	p := &Pool{cfg: Config{BackoffBase: time.Second, BackoffMax: 10 * time.Second}}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 30: 10 * time.Second} {
		for range 20 {
			got := p.backoff(attempt)
			if got < want*8/10 || got > want*12/10 {
				t.Errorf("backoff(%d) = %s, want %s ±20%%", attempt, got, want)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Size: 4, PollInterval: time.Second, Lease: time.Minute, MaxAttempts: 3, BackoffBase: time.Second, BackoffMax: time.Minute, SummaryTimeout: time.Minute, TombstoneRetention: time.Hour, ReplicaRecheck: time.Minute, RetentionBatch: 500,
		Webhooks: DefaultConfig().Webhooks}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Size: -1, PollInterval: 0, Lease: 0, MaxAttempts: 0, BackoffBase: time.Minute, BackoffMax: time.Second, RetentionDays: -1}
	err := bad.Validate()
	for _, name := range []string{"WORKERS", "WORKER_POLL_INTERVAL", "WORKER_LEASE", "WORKER_MAX_ATTEMPTS", "WORKER_BACKOFF_BASE", "SUMMARY_TIMEOUT", "TOMBSTONE_RETENTION", "S3_REPLICA_RECHECK", "WEBHOOK_CONCURRENCY_PER_ENDPOINT", "WEBHOOK_TIMEOUT", "WEBHOOK_BACKOFF_BASE", "RETENTION_DAYS", "RETENTION_BATCH"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestClassify(t *testing.T) {
	for status, perm := range map[int]bool{401: true, 403: true, 400: true, 404: false, 408: false, 429: false, 500: false, 503: false} {
		if got := isPermanent(classify("downloading media", status)); got != perm {
			t.Errorf("status %d permanent = %v, want %v", status, got, perm)
		}
	}
}
