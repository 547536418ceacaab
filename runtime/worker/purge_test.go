package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/memory"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// deletedCall creates call n, ends it and deletes it, leaving its tombstone.
func deletedCall(t *testing.T, s storage.Store, n int) string {
	t.Helper()
	sid := fmt.Sprintf("CA%032x", n)
	ctx := t.Context()
	if _, _, err := s.StartCall(ctx, storage.NewCall{SID: sid}, storage.Turn{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyStatus(ctx, storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCall(ctx, sid, storage.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	return sid
}

// gone reports whether the store still refuses to create sid.
func gone(t *testing.T, s storage.Store, sid string) bool {
	t.Helper()
	_, _, err := s.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{})
	if err != nil && !errors.Is(err, storage.ErrGone) {
		t.Fatalf("UpsertCall(%s): %v", sid, err)
	}
	return err != nil
}

func TestPurgeTombstones(t *testing.T) {
	t.Run("AfterTheRetentionOnly", func(t *testing.T) {
		s := memory.New()
		p := New(Config{TombstoneRetention: 24 * time.Hour}, Deps{Calls: s, Work: s, Log: quiet})
		now := time.Now()
		p.now = func() time.Time { return now }
		sid := deletedCall(t, s, 1)
		p.purgeTombstones(t.Context())
		if !gone(t, s, sid) {
			t.Fatal("a tombstone younger than TOMBSTONE_RETENTION was purged")
		}

		// A day later the next round purges it.
		now = now.Add(24*time.Hour + time.Minute)
		p.purgeTombstones(t.Context())
		if gone(t, s, sid) {
			t.Fatalf("the tombstone of %s outlived TOMBSTONE_RETENTION", sid)
		}

		// Rounds are purgeEvery apart.
		sid = deletedCall(t, s, 2)
		now = now.Add(purgeEvery - time.Second)
		p.purgeTombstones(t.Context())
		if !gone(t, s, sid) {
			t.Fatalf("purged %s within %s of the previous round", sid, purgeEvery)
		}
		now = now.Add(time.Second)
		p.purgeTombstones(t.Context())
		if gone(t, s, sid) {
			t.Fatalf("the tombstone of %s outlived TOMBSTONE_RETENTION", sid)
		}
	})

	t.Run("BacklogInBatches", func(t *testing.T) {
		s := memory.New()
		p := New(Config{TombstoneRetention: time.Hour}, Deps{Calls: s, Work: s, Log: quiet})
		n := purgeBatch*purgeBatches + 5
		for i := range n {
			deletedCall(t, s, i)
		}
		now := time.Now().Add(2 * time.Hour)
		p.now = func() time.Time { return now }
		p.purgeTombstones(t.Context())
		left, err := s.PurgeTombstones(t.Context(), now, n)
		if err != nil {
			t.Fatal(err)
		}
		if left != 5 {
			t.Errorf("%d tombstones left after one round, want 5 (one round purges at most %d)", left, purgeBatch*purgeBatches)
		}
	})

	t.Run("DrainPurges", func(t *testing.T) {
		s := memory.New()
		cfg := DefaultConfig()
		cfg.Size = 1
		p := New(cfg, Deps{Calls: s, Work: s, Log: quiet})
		if p.cfg.TombstoneRetention != 720*time.Hour {
			t.Errorf("default retention = %s, want 720h", p.cfg.TombstoneRetention)
		}
		sid := deletedCall(t, s, 1)
		p.now = func() time.Time { return time.Now().Add(p.cfg.TombstoneRetention + time.Hour) }
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if n := p.Drain(ctx); n != 0 {
			t.Errorf("Drain ran %d items, want 0", n)
		}
		if gone(t, s, sid) {
			t.Error("Drain did not purge an expired tombstone")
		}
	})
}
