package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// hangBound is far beyond the query timeout: a call still running after it
// is hung, not slow.
const hangBound = 10 * time.Second

// within runs f and fails the test if it does not return before hangBound.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangBound):
		t.Fatalf("%s still running after %v", what, hangBound)
		return nil
	}
}

func callSID(n int) string { return fmt.Sprintf("CA%032x", n) }

func TestDatabaseRestart(t *testing.T) {
	// Commits are acknowledged only once durable, as in production.
	c := pgtest.StartCluster(t, pgtest.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	cfg := testConfig(c.MigratedURL(t))
	cfg.ConnectTimeout, cfg.QueryTimeout = time.Second, 2*time.Second
	s := mustOpen(t, cfg)

	// Writers keep creating calls through the outage and note every one
	// the store acknowledged.
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sid := callSID(w<<24 | i)
				_, _, err := s.StartCall(context.Background(), storage.NewCall{SID: sid, From: "+14155550100", To: "+14155550199"}, storage.Turn{})
				switch {
				case err == nil:
					mu.Lock()
					acked[sid] = true
					mu.Unlock()
				case !errors.Is(err, storage.ErrUnavailable):
					t.Errorf("UpsertCall during restart: %v, want success or ErrUnavailable", err)
					return
				default:
					time.Sleep(20 * time.Millisecond) // a client backing off before retrying
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	waitAcked := func(n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged, want %d", got, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitAcked(20)

	for _, restart := range []struct {
		name string
		down func() error
	}{
		{"FastShutdown", c.Stop},
		{"Crash", c.Kill},
	} {
		t.Run(restart.name, func(t *testing.T) {
			if err := restart.down(); err != nil {
				t.Fatalf("stopping the database: %v", err)
			}
			ctx := context.Background() // no deadline: the store's own timeout must apply
			checks := map[string]func() error{
				"Ping":      func() error { return s.Ping(ctx) },
				"GetCall":   func() error { _, err := s.GetCall(ctx, callSID(0)); return err },
				"ListCalls": func() error { _, err := s.ListCalls(ctx, storage.CallFilter{}); return err },
				"UpsertCall": func() error {
					_, _, err := s.StartCall(ctx, storage.NewCall{SID: callSID(1 << 30)}, storage.Turn{})
					return err
				},
				"ClaimWork": func() error {
					_, _, err := s.ClaimWork(ctx, time.Now(), time.Minute)
					return err
				},
			}
			for name, call := range checks {
				if err := within(t, name, call); !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s with the database down = %v, want ErrUnavailable", name, err)
				}
			}

			mu.Lock()
			before := len(acked)
			mu.Unlock()
			if err := c.Start(); err != nil {
				t.Fatalf("restarting the database: %v", err)
			}
			deadline := time.Now().Add(time.Minute)
			for s.Ping(ctx) != nil {
				if time.Now().After(deadline) {
					t.Fatal("Ping still failing a minute after the database came back")
				}
				time.Sleep(50 * time.Millisecond)
			}
			waitAcked(before + 20)
		})
	}

	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	t.Run("NoAcknowledgedWriteMissing", func(t *testing.T) {
		conn, err := pgx.Connect(t.Context(), cfg.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, _ := conn.Query(t.Context(), `SELECT sid FROM calls`)
		sids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		have := make(map[string]bool, len(sids))
		for _, sid := range sids {
			have[sid] = true
		}
		missing := 0
		for sid := range acked {
			if !have[sid] {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%d of %d acknowledged calls are missing after the restarts", missing, len(acked))
		}
		t.Logf("%d acknowledged calls all present", len(acked))
	})
}

func TestQueryTimeout(t *testing.T) {
	t.Run("ErrUnavailableWhenBlocked", func(t *testing.T) {
		url := pgtest.MigratedURL(t)
		cfg := testConfig(url)
		cfg.QueryTimeout = 300 * time.Millisecond
		s := mustOpen(t, cfg)
		sid := callSID(1)
		if _, _, err := s.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); err != nil {
			t.Fatal(err)
		}
		// Another session holds the call's row, as a stuck transaction would.
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(t.Context(), `SELECT 1 FROM calls WHERE sid = $1 FOR UPDATE`, sid); err != nil {
			t.Fatal(err)
		}
		err = within(t, "ApplyStatus", func() error {
			_, err := s.ApplyStatus(context.Background(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted})
			return err
		})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("ApplyStatus behind a held row lock = %v, want ErrUnavailable", err)
		}
		if err := tx.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted})
		if err != nil || got.Status != storage.StatusCompleted {
			t.Fatalf("ApplyStatus once the lock is gone = %v, %v; want completed", got.Status, err)
		}
	})
}
