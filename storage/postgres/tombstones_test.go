package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// TestWriteWaitingOnADelete holds a call's deletion open in another session,
// exactly as DeleteCall leaves it just before committing (row locked,
// tombstone written, row deleted), starts a webhook's write, which waits on
// the call's row, and then commits. The write began before the tombstone was
// visible to it, yet must not bring the call back: UpsertCall would insert
// the row anew once the one it waited for is gone (the trigger refuses it),
// and AddRecording's foreign key check fails (it must say ErrGone, not
// ErrNotFound, so the webhook does not go on to create the call).
func TestWriteWaitingOnADelete(t *testing.T) {
	writes := []struct {
		name  string
		write func(s storeUnderTest, sid string) error
	}{
		{"StartCall", func(s storeUnderTest, sid string) error {
			_, _, err := s.StartCall(context.Background(), storage.NewCall{SID: sid, Status: storage.StatusInProgress}, storage.Turn{})
			return err
		}},
		{"AddRecording", func(s storeUnderTest, sid string) error {
			_, _, err := s.AddRecording(context.Background(), storage.Recording{SID: "RE" + sid[2:], CallSID: sid})
			return err
		}},
		{"AddTurn", func(s storeUnderTest, sid string) error {
			_, _, err := s.AddTurn(context.Background(), storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleCaller, Text: "Hello?"})
			return err
		}},
		{"BeginTurn", func(s storeUnderTest, sid string) error {
			_, err := s.BeginTurn(context.Background(), storage.NewCall{SID: sid}, storage.Turn{Number: 1, Text: "Hello?"})
			return err
		}},
		{"ApplyStatus", func(s storeUnderTest, sid string) error {
			_, err := s.ApplyStatus(context.Background(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1})
			return err
		}},
	}
	for _, w := range writes {
		t.Run(w.name+"/ErrGone", func(t *testing.T) {
			url := pgtest.MigratedURL(t)
			s := mustOpen(t, testConfig(url))
			sid := callSID(7)
			if _, _, err := s.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1}); err != nil {
				t.Fatal(err)
			}

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
			for _, q := range []string{
				`SELECT 1 FROM calls WHERE sid = $1 FOR UPDATE`,
				`INSERT INTO call_tombstones (sid, deleted_at) VALUES ($1, now())`,
				`DELETE FROM calls WHERE sid = $1`,
			} {
				if _, err := tx.Exec(t.Context(), q, sid); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}

			done := make(chan error, 1)
			go func() { done <- w.write(s, sid) }()
			waitForLockWait(t, conn, done)
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			err = within(t, w.name, func() error { return <-done })
			if !errors.Is(err, storage.ErrGone) {
				t.Errorf("%s waiting on the delete = %v, want ErrGone", w.name, err)
			}
			if _, err := s.GetCall(t.Context(), sid); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetCall after the delete committed = %v, want ErrNotFound: the call came back", err)
			}
		})
	}
}

// storeUnderTest is the part of the store the racing writes use.
type storeUnderTest = storage.CallWriter

// waitForLockWait returns once some other session waits for a lock, which is
// the racing write queued behind the held delete. It fails if the write
// finished first.
func waitForLockWait(t *testing.T, conn *pgx.Conn, done chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the write finished before the delete committed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never waited on the delete's lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
