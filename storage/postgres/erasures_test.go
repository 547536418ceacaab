package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// TestErasureHoldsItsTombstone: PurgeTombstones passes over the tombstone of
// a call whose replica erasure is pending, and the schema refuses to lose it
// any other way, so an operator's hand-written purge cannot orphan the
// erasure either.
func TestErasureHoldsItsTombstone(t *testing.T) {
	url := pgtest.MigratedURL(t)
	s := mustOpen(t, testConfig(url))
	sid := callSID(3)
	if _, _, err := s.StartCall(t.Context(), storage.NewCall{SID: sid, AccountSID: "AC" + sid[2:]}, storage.Turn{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddRecording(t.Context(), storage.Recording{SID: "RE" + sid[2:], CallSID: sid, AccountSID: "AC" + sid[2:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCall(t.Context(), sid, storage.DeleteOptions{ReplicaBucket: "recordings-dr"}); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `DELETE FROM call_tombstones WHERE sid = $1`, sid); err == nil {
		t.Fatal("deleting the tombstone of a call with a pending erasure succeeded")
	}
	var keys []string
	if err := conn.QueryRow(t.Context(), `SELECT keys FROM blob_erasures WHERE call_sid = $1`, sid).Scan(&keys); err != nil {
		t.Fatalf("reading the erasure: %v", err)
	}
	if len(keys) != 1 {
		t.Errorf("erasure keys %v, want the recording's ArchiveKey", keys)
	}
}
