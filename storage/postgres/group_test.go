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

// TestWritesGoTogether makes webhook writes of every kind wait for the
// store's one batch slot, held by a write that waits on a locked call, and
// then lets them go: they must go as one batch and each get the answer it
// would get alone, the group's writes committed. With a write among them
// that fails in PostgreSQL (a recording of a deleted call: its foreign key
// check fails), the batch's transaction rolls back and every write runs
// again on its own: still each its own answer, nothing lost, nothing twice.
func TestWritesGoTogether(t *testing.T) {
	for _, failing := range []bool{false, true} {
		name := "AllGood"
		if failing {
			name = "OneFails"
		}
		t.Run(name, func(t *testing.T) {
			url := pgtest.MigratedURL(t)
			cfg := testConfig(url)
			cfg.WriteConcurrency = 1
			s := mustOpen(t, cfg)
			ctx := t.Context()
			held, a1, a2, a3, a4, gone, fresh := callSID(1), callSID(2), callSID(3), callSID(4), callSID(5), callSID(6), callSID(7)
			for _, sid := range []string{held, a1, a2, a3, a4, gone} {
				if _, _, err := s.StartCall(ctx, storage.NewCall{SID: sid, To: "+15550100"}, storage.Turn{Text: "Hello."}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.ApplyStatus(ctx, storage.NewCall{SID: gone}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteCall(ctx, gone, storage.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			batches0, writes0 := s.WriteBatches()

			// The slot's holder: a status callback waiting on the call's
			// row, locked by another session.
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(ctx, `SELECT 1 FROM calls WHERE sid = $1 FOR UPDATE`, held); err != nil {
				t.Fatal(err)
			}
			holder := make(chan error, 1)
			go func() {
				_, err := s.ApplyStatus(context.Background(), storage.NewCall{SID: held}, storage.StatusEvent{Status: storage.StatusInProgress, Sequence: -1})
				holder <- err
			}()
			waitForLockWait(t, conn, holder)

			type result struct {
				what string
				err  error
			}
			writes := []struct {
				what string
				do   func() error
			}{
				{"status a1", func() error {
					c, err := s.ApplyStatus(context.Background(), storage.NewCall{SID: a1}, storage.StatusEvent{Status: storage.StatusCompleted, Duration: 42, Sequence: 3})
					if err == nil && (c.Status != storage.StatusCompleted || c.Duration != 42) {
						t.Errorf("status a1 answered %s, %d s", c.Status, c.Duration)
					}
					return err
				}},
				{"status of the deleted call", func() error {
					_, err := s.ApplyStatus(context.Background(), storage.NewCall{SID: gone}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1})
					if !errors.Is(err, storage.ErrGone) {
						t.Errorf("status of the deleted call = %v, want ErrGone", err)
					}
					return nil
				}},
				{"incoming call", func() error {
					c, g, err := s.StartCall(context.Background(), storage.NewCall{SID: fresh, To: "+15550100"}, storage.Turn{Text: "Hi there."})
					if err == nil && (c.SID != fresh || g.Text != "Hi there.") {
						t.Errorf("incoming call answered %q with greeting %q", c.SID, g.Text)
					}
					return err
				}},
				{"turn a2", func() error {
					st, err := s.BeginTurn(context.Background(), storage.NewCall{SID: a2}, storage.Turn{Number: 1, Text: "Are you open?"})
					if err == nil && (st.Answer != nil || len(st.Turns) != 2 || st.Turns[1].Text != "Are you open?") {
						t.Errorf("turn a2 read %+v", st)
					}
					return err
				}},
				{"turn a3", func() error {
					_, added, err := s.AddTurn(context.Background(), storage.Turn{CallSID: a3, Number: 1, Role: storage.RoleCaller, Text: "Hi."})
					if err == nil && !added {
						t.Error("turn a3 was not added")
					}
					return err
				}},
				{"recording a4", func() error {
					_, added, err := s.AddRecording(context.Background(), storage.Recording{SID: "RE" + a4[2:], CallSID: a4})
					if err == nil && !added {
						t.Error("recording a4 was not added")
					}
					return err
				}},
				{"status a4", func() error {
					_, err := s.ApplyStatus(context.Background(), storage.NewCall{SID: a4}, storage.StatusEvent{Status: storage.StatusInProgress, Sequence: 1})
					return err
				}},
			}
			if failing {
				writes = append(writes, struct {
					what string
					do   func() error
				}{"recording of the deleted call", func() error {
					_, _, err := s.AddRecording(context.Background(), storage.Recording{SID: "RE" + gone[2:], CallSID: gone})
					if !errors.Is(err, storage.ErrGone) {
						t.Errorf("recording of the deleted call = %v, want ErrGone", err)
					}
					return nil
				}})
			}
			results := make(chan result, len(writes))
			for _, w := range writes {
				go func() { results <- result{w.what, w.do()} }()
			}
			deadline := time.Now().Add(10 * time.Second)
			for s.PendingWrites() < len(writes) {
				if time.Now().After(deadline) {
					t.Fatalf("%d writes waiting for the slot, want %d", s.PendingWrites(), len(writes))
				}
				time.Sleep(time.Millisecond)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := within(t, "the slot's holder", func() error { return <-holder }); err != nil {
				t.Fatalf("holder: %v", err)
			}
			for range writes {
				r := <-results
				if r.err != nil {
					t.Errorf("%s: %v", r.what, r.err)
				}
			}
			batches, n := s.WriteBatches()
			if batches-batches0 != 2 || n-writes0 != uint64(len(writes)+1) {
				t.Errorf("writes went in %d batches holding %d, want 2 holding %d (the holder alone, then the rest together)",
					batches-batches0, n-writes0, len(writes)+1)
			}

			// What the group's writes stored, read back.
			c, err := s.GetCall(ctx, a1)
			if err != nil || c.Status != storage.StatusCompleted || len(c.Timeline) != 1 || c.Timeline[0].Duration != 42 {
				t.Errorf("a1 after the batch: %s, timeline %+v, %v", c.Status, c.Timeline, err)
			}
			if c, err := s.GetCall(ctx, a2); err != nil || len(c.Turns) != 2 {
				t.Errorf("a2 after the batch: %d turns, %v", len(c.Turns), err)
			}
			if c, err := s.GetCall(ctx, a3); err != nil || len(c.Turns) != 2 {
				t.Errorf("a3 after the batch: %d turns, %v", len(c.Turns), err)
			}
			if c, err := s.GetCall(ctx, a4); err != nil || len(c.Recordings) != 1 || c.Status != storage.StatusInProgress {
				t.Errorf("a4 after the batch: %s, %d recordings, %v", c.Status, len(c.Recordings), err)
			}
			if c, err := s.GetCall(ctx, fresh); err != nil || len(c.Turns) != 1 {
				t.Errorf("the new call after the batch: %d turns, %v", len(c.Turns), err)
			}
			if _, err := s.GetCall(ctx, gone); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("the deleted call after the batch: %v, want ErrNotFound", err)
			}
			var work int
			if err := s.QueryRowForTest(ctx, `SELECT count(*) FROM work WHERE call_sid IN ('`+a1+`', '`+a4+`')`, &work); err != nil || work != 2 {
				t.Errorf("work items of a1 and a4 = %d (%v), want 2: a1's summary and a4's archiving", work, err)
			}
		})
	}
}
