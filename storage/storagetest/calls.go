package storagetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchboard/storage"
)

// TestCallStore runs the storage.Store contract against the stores
// newStore returns. Every subtest calls newStore for a store of its own, so
// newStore must return an empty store and register its clean-up with
// t.Cleanup.
//
// Times are in UTC with microsecond precision, which PostgreSQL keeps
// exactly. Work is claimed at a fixed instant far after any real clock
// reading, so the suite holds whether a store makes new work due at once or
// at its own clock's current time.
func TestCallStore(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("UpsertCall", func(t *testing.T) { testUpsertCall(t, newStore) })
	t.Run("StartCall", func(t *testing.T) { testStartCall(t, newStore) })
	t.Run("BeginTurn", func(t *testing.T) { testBeginTurn(t, newStore) })
	t.Run("GetCall", func(t *testing.T) { testGetCall(t, newStore) })
	t.Run("AddTurn", func(t *testing.T) { testAddTurn(t, newStore) })
	t.Run("StreamedTurns", func(t *testing.T) { testStreamedTurns(t, newStore) })
	t.Run("InterruptTurn", func(t *testing.T) { testInterruptTurn(t, newStore) })
	t.Run("TurnActions", func(t *testing.T) { testTurnActions(t, newStore) })
	t.Run("ApplyStatus", func(t *testing.T) { testApplyStatus(t, newStore) })
	t.Run("AddRecording", func(t *testing.T) { testAddRecording(t, newStore) })
	t.Run("GetRecording", func(t *testing.T) { testGetRecording(t, newStore) })
	t.Run("ListCalls", func(t *testing.T) { testListCalls(t, newStore) })
	t.Run("ClaimWork", func(t *testing.T) { testClaimWork(t, newStore) })
	t.Run("FailWork", func(t *testing.T) { testFailWork(t, newStore) })
	t.Run("ReleaseWork", func(t *testing.T) { testReleaseWork(t, newStore) })
	t.Run("CompleteRecording", func(t *testing.T) { testCompleteRecording(t, newStore) })
	t.Run("CompleteSummary", func(t *testing.T) { testCompleteSummary(t, newStore) })
	t.Run("StaleLease", func(t *testing.T) { testStaleLease(t, newStore) })
	t.Run("DeleteCall", func(t *testing.T) { testDeleteCall(t, newStore) })
	t.Run("Tombstones", func(t *testing.T) { testTombstones(t, newStore) })
	t.Run("Erasures", func(t *testing.T) { testErasures(t, newStore) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, newStore) })
	t.Run("Copies", func(t *testing.T) { testCopies(t, newStore) })
	t.Run("Assistants", func(t *testing.T) { TestAssistants(t, newStore) })
	t.Run("Events", func(t *testing.T) { testEvents(t, newStore) })
	t.Run("Ping", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			if err := newStore(t).Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	})
}

type newStoreFunc = func(t *testing.T) storage.Store

// t0 is the suite's base time for calls, turns and statuses.
var t0 = time.Date(2026, 2, 12, 11, 48, 25, 123456000, time.UTC)

// claimAt is when the suite claims work (see TestCallStore).
var claimAt = time.Date(2100, 1, 1, 9, 0, 0, 0, time.UTC)

// lease is the suite's work lease.
const lease = time.Minute

// The phone numbers of the suite's calls.
const (
	caller = "+14155550100"
	callee = "+14155550199"
)

// callSID and recordingSID return distinct valid SIDs for n; call SIDs
// sort in the order of n, so expected listings are easy to write.
func callSID(n int) string      { return fmt.Sprintf("CA%032x", n) }
func recordingSID(n int) string { return fmt.Sprintf("RE%032x", n) }

// accountSID owns every call and recording in the suite.
const accountSID = "AC0123456789abcdef0123456789abcdef"

// Comparison options. UpdatedAt is not compared: the contract says nothing
// about when it moves. Nil and empty slices are the same to a client.
var (
	ignoreUpdatedAt = cmpopts.IgnoreFields(storage.Call{}, "UpdatedAt")
	equateEmpty     = cmpopts.EquateEmpty()
	recordingsBySID = cmpopts.SortSlices(func(a, b storage.Recording) bool { return a.SID < b.SID })
	// Work IDs are the store's own; leases are checked separately.
	ignoreWorkIdentity = cmpopts.IgnoreFields(storage.Work{}, "ID", "Lease")
)

func newCall(n int, at time.Time) storage.NewCall {
	return storage.NewCall{
		SID:        callSID(n),
		AccountSID: accountSID,
		From:       caller,
		To:         callee,
		Direction:  "inbound",
		Status:     storage.StatusRinging,
		At:         at,
	}
}

// createdCall is what a store holds right after UpsertCall(nc).
func createdCall(nc storage.NewCall) storage.Call {
	return storage.Call{
		SID:        nc.SID,
		AccountSID: nc.AccountSID,
		From:       nc.From,
		To:         nc.To,
		Direction:  nc.Direction,
		Status:     nc.Status,
		CreatedAt:  nc.At,
		Assistant:  storage.DefaultRef,
	}
}

func newRecording(n, call int) storage.Recording {
	started := t0.Add(3 * time.Second)
	return storage.Recording{
		SID:        recordingSID(n),
		CallSID:    callSID(call),
		AccountSID: accountSID,
		SourceURL:  "https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Recordings/" + recordingSID(n),
		Duration:   57,
		Channels:   2,
		StartedAt:  &started,
		State:      storage.RecordingPending,
		CreatedAt:  t0.Add(time.Minute),
	}
}

// bare is c without the parts only GetCall fills.
func bare(c storage.Call) storage.Call {
	c.Timeline, c.Turns, c.Summary, c.Recordings = nil, nil, nil, nil
	return c
}

func mustUpsert(t *testing.T, s storage.Store, nc storage.NewCall) storage.Call {
	t.Helper()
	c, _, err := s.StartCall(t.Context(), nc, storage.Turn{})
	if err != nil {
		t.Fatalf("UpsertCall(%s): %v", nc.SID, err)
	}
	return c
}

func mustGetCall(t *testing.T, s storage.Store, sid string) storage.Call {
	t.Helper()
	c, err := s.GetCall(t.Context(), sid)
	if err != nil {
		t.Fatalf("GetCall(%s): %v", sid, err)
	}
	return c
}

func mustApply(t *testing.T, s storage.Store, sid string, ev storage.StatusEvent) storage.Call {
	t.Helper()
	c, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, ev)
	if err != nil {
		t.Fatalf("ApplyStatus(%s, %s): %v", sid, ev.Status, err)
	}
	return c
}

func mustAddTurn(t *testing.T, s storage.Store, tu storage.Turn) storage.Turn {
	t.Helper()
	got, _, err := s.AddTurn(t.Context(), tu)
	if err != nil {
		t.Fatalf("AddTurn(%d %s): %v", tu.Number, tu.Role, err)
	}
	return got
}

func mustAddRecording(t *testing.T, s storage.Store, r storage.Recording) storage.Recording {
	t.Helper()
	got, _, err := s.AddRecording(t.Context(), r)
	if err != nil {
		t.Fatalf("AddRecording(%s): %v", r.SID, err)
	}
	return got
}

func mustGetRecording(t *testing.T, s storage.Store, callSID, sid string) storage.Recording {
	t.Helper()
	r, err := s.GetRecording(t.Context(), callSID, sid)
	if err != nil {
		t.Fatalf("GetRecording(%s): %v", sid, err)
	}
	return r
}

// mustClaim claims the next due work item at now and fails when there is none.
func mustClaim(t *testing.T, s storage.Store, now time.Time) storage.Work {
	t.Helper()
	w, ok, err := s.ClaimWork(t.Context(), now, lease)
	if err != nil {
		t.Fatalf("ClaimWork(%v): %v", now, err)
	}
	if !ok {
		t.Fatalf("ClaimWork(%v): nothing due, want an item", now)
	}
	if w.Lease == "" {
		t.Fatalf("ClaimWork(%v) returned item %d without a lease", now, w.ID)
	}
	if want := now.Add(lease); !w.LeaseUntil.Equal(want) {
		t.Fatalf("ClaimWork(%v) LeaseUntil = %v, want %v", now, w.LeaseUntil, want)
	}
	return w
}

// mustNoWork fails when any work item is due at now.
func mustNoWork(t *testing.T, s storage.Store, now time.Time) {
	t.Helper()
	w, ok, err := s.ClaimWork(t.Context(), now, lease)
	if err != nil {
		t.Fatalf("ClaimWork(%v): %v", now, err)
	}
	if ok {
		t.Fatalf("ClaimWork(%v) claimed %+v, want nothing due", now, w)
	}
}

// drain claims every item due at now, in claim order.
func drain(t *testing.T, s storage.Store, now time.Time) []storage.Work {
	t.Helper()
	var all []storage.Work
	for {
		w, ok, err := s.ClaimWork(t.Context(), now, lease)
		if err != nil {
			t.Fatalf("ClaimWork(%v): %v", now, err)
		}
		if !ok {
			return all
		}
		if len(all) > 10000 {
			t.Fatalf("ClaimWork keeps returning work at %v; last %+v", now, w)
		}
		all = append(all, w)
	}
}

// claimed is a freshly claimed item of work as the suite expects it,
// compared with ignoreWorkIdentity.
func claimed(kind storage.WorkKind, call, rec string, attempts int, lastErr string, now time.Time) storage.Work {
	return storage.Work{
		Kind:         kind,
		CallSID:      call,
		RecordingSID: rec,
		Attempts:     attempts,
		LastError:    lastErr,
		LeaseUntil:   now.Add(lease),
	}
}

// wantKind fails unless err is of the given kind and of no other.
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) || storage.KindOf(err) != kind {
		t.Fatalf("%s: error = %v, want kind %q", what, err, kind)
	}
	if storage.Message(err) == "" {
		t.Fatalf("%s: error %v has no client-safe message", what, err)
	}
}

// concurrently runs f(0) … f(n-1) at once and waits for all of them.
func concurrently(n int, f func(i int)) {
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			f(i)
		})
	}
	start.Done()
	wg.Wait()
}

func testUpsertCall(t *testing.T, newStore newStoreFunc) {
	t.Run("CreatesCall", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		got := mustUpsert(t, s, nc)
		want := createdCall(nc)
		if diff := cmp.Diff(want, got, ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("UpsertCall returned (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGetCall(t, s, nc.SID), ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("GetCall after UpsertCall (-want +got):\n%s", diff)
		}
	})

	t.Run("EmptyStatusIsRinging", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		nc.Status = ""
		if got := mustUpsert(t, s, nc).Status; got != storage.StatusRinging {
			t.Errorf("Status = %q, want %q", got, storage.StatusRinging)
		}
	})

	t.Run("RepeatReturnsOriginal", func(t *testing.T) {
		s := newStore(t)
		first := newCall(1, t0)
		want := mustUpsert(t, s, first)
		again := first
		again.From = "+14155550111"
		again.Direction = "outbound-api"
		again.Status = storage.StatusInProgress
		again.At = t0.Add(time.Hour)
		got := mustUpsert(t, s, again)
		if diff := cmp.Diff(want, got, ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("second UpsertCall (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGetCall(t, s, first.SID), ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("GetCall after second UpsertCall (-want +got):\n%s", diff)
		}
	})

	t.Run("RepeatFillsMissingFields", func(t *testing.T) {
		s := newStore(t)
		sparse := newCall(1, t0)
		sparse.From, sparse.To, sparse.Direction = "", "", ""
		mustUpsert(t, s, sparse)
		full := newCall(1, t0.Add(time.Minute))
		got := mustUpsert(t, s, full)
		want := createdCall(full)
		want.CreatedAt = t0
		if diff := cmp.Diff(want, got, ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("UpsertCall filling fields (-want +got):\n%s", diff)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		for _, sid := range []string{"", "CA123", recordingSID(1), "CA" + strings.Repeat("g", 32), callSID(1) + "0"} {
			nc := newCall(1, t0)
			nc.SID = sid
			_, _, err := s.StartCall(t.Context(), nc, storage.Turn{})
			wantKind(t, fmt.Sprintf("UpsertCall(%q)", sid), err, storage.ErrInvalid)
		}
		page, err := s.ListCalls(t.Context(), storage.CallFilter{})
		if err != nil {
			t.Fatalf("ListCalls: %v", err)
		}
		if len(page.Calls) != 0 {
			t.Errorf("ListCalls after rejected upserts returned %d calls, want none", len(page.Calls))
		}
	})
}

func testGetCall(t *testing.T, newStore newStoreFunc) {
	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		_, err := s.GetCall(t.Context(), callSID(2))
		wantKind(t, "GetCall of a missing call", err, storage.ErrNotFound)
	})

	t.Run("ReturnsAllParts", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		ringing := storage.StatusEvent{Status: storage.StatusRinging, At: t0.Add(time.Second), Sequence: 0}
		answered := storage.StatusEvent{Status: storage.StatusInProgress, At: t0.Add(2 * time.Second), Sequence: 1}
		completed := storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 58}
		mustApply(t, s, nc.SID, answered)
		mustApply(t, s, nc.SID, ringing)

		turn := func(n int, r storage.Role) storage.Turn {
			tu := storage.Turn{
				CallSID:    nc.SID,
				Number:     n,
				Role:       r,
				Text:       fmt.Sprintf("%s says %d", r, n),
				Confidence: -1,
				CreatedAt:  t0.Add(time.Duration(2*n+1) * time.Second),
			}
			if r == storage.RoleCaller {
				tu.Confidence = 0.875
				tu.CreatedAt = tu.CreatedAt.Add(-time.Second)
			}
			return tu
		}
		greeting := turn(0, storage.RoleAssistant)
		ask1, answer1 := turn(1, storage.RoleCaller), turn(1, storage.RoleAssistant)
		ask2, answer2 := turn(2, storage.RoleCaller), turn(2, storage.RoleAssistant)
		answer2.EndsCall = true
		answer1.Error = "assistant timed out"
		for _, tu := range []storage.Turn{answer2, ask1, greeting, ask2, answer1} {
			mustAddTurn(t, s, tu)
		}

		stored, pending := newRecording(1, 1), newRecording(2, 1)
		mustAddRecording(t, s, stored)
		mustAddRecording(t, s, pending)
		mustApply(t, s, nc.SID, completed)

		// Archive the first recording, give the second back, summarize.
		blob := storage.StoredBlob{Key: "recordings/a/" + stored.SID + ".wav", Size: 917504, SHA256: strings.Repeat("ab", 32), ContentType: "audio/wav"}
		summary := storage.Summary{Text: "Caller asked about opening hours.", Reason: "opening hours", Outcome: "answered", FollowUp: true, CreatedAt: t0.Add(2 * time.Minute)}
		for _, w := range drain(t, s, claimAt) {
			var err error
			switch {
			case w.Kind == storage.WorkArchiveRecording && w.RecordingSID == stored.SID:
				err = s.CompleteRecording(t.Context(), w, blob, false)
			case w.Kind == storage.WorkArchiveRecording:
				err = s.ReleaseWork(t.Context(), w)
			case w.Kind == storage.WorkSummarizeCall:
				err = s.CompleteSummary(t.Context(), w, summary, false)
			default:
				t.Fatalf("unexpected work %+v", w)
			}
			if err != nil {
				t.Fatalf("finishing %s work: %v", w.Kind, err)
			}
		}

		want := createdCall(nc)
		want.Status = storage.StatusCompleted
		want.EndedAt = &completed.At
		want.Duration = completed.Duration
		want.Timeline = []storage.StatusEvent{ringing, answered, completed}
		want.Turns = []storage.Turn{greeting, ask1, answer1, ask2, answer2}
		want.Summary = &summary
		stored.State = storage.RecordingStored
		stored.BlobKey, stored.Size, stored.SHA256, stored.ContentType = blob.Key, blob.Size, blob.SHA256, blob.ContentType
		want.Recordings = []storage.Recording{stored, pending}

		got := mustGetCall(t, s, nc.SID)
		// When a recording was stored is the store's own clock; how often
		// it was attempted is pinned by the FailWork tests.
		opts := cmp.Options{ignoreUpdatedAt, equateEmpty, recordingsBySID, cmpopts.IgnoreFields(storage.Recording{}, "StoredAt", "Attempts")}
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("GetCall (-want +got):\n%s", diff)
		}
		for _, r := range got.Recordings {
			if (r.StoredAt != nil) != (r.State == storage.RecordingStored) {
				t.Errorf("recording %s in state %s has StoredAt %v", r.SID, r.State, r.StoredAt)
			}
		}
	})
}

func testAddTurn(t *testing.T, newStore newStoreFunc) {
	sid := callSID(1)
	caller1 := storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleCaller, Text: "What are your opening hours?", Confidence: 0.9375, CreatedAt: t0.Add(5 * time.Second)}

	t.Run("CreatesOnce", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		got, created, err := s.AddTurn(t.Context(), caller1)
		if err != nil || !created {
			t.Fatalf("first AddTurn = created %v, error %v; want created", created, err)
		}
		if diff := cmp.Diff(caller1, got); diff != "" {
			t.Errorf("first AddTurn (-want +got):\n%s", diff)
		}
		again := caller1
		again.Text = "Are you open on Sundays?"
		again.Confidence = 0.5
		again.CreatedAt = t0.Add(9 * time.Second)
		got, created, err = s.AddTurn(t.Context(), again)
		if err != nil || created {
			t.Fatalf("second AddTurn = created %v, error %v; want the stored turn", created, err)
		}
		if diff := cmp.Diff(caller1, got); diff != "" {
			t.Errorf("second AddTurn (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]storage.Turn{caller1}, mustGetCall(t, s, sid).Turns); diff != "" {
			t.Errorf("turns after two adds (-want +got):\n%s", diff)
		}
	})

	t.Run("SameNumberOtherRoleIsCreated", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, caller1)
		answer := storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleAssistant, Text: "We open at nine.", Confidence: -1, CreatedAt: t0.Add(6 * time.Second)}
		if _, created, err := s.AddTurn(t.Context(), answer); err != nil || !created {
			t.Fatalf("AddTurn of the answer = created %v, error %v; want created", created, err)
		}
		if diff := cmp.Diff([]storage.Turn{caller1, answer}, mustGetCall(t, s, sid).Turns); diff != "" {
			t.Errorf("turns (-want +got):\n%s", diff)
		}
	})

	t.Run("AcceptsLimits", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		last := storage.Turn{CallSID: sid, Number: storage.MaxTurn, Role: storage.RoleAssistant, Text: strings.Repeat("x", storage.MaxTurnText), Confidence: -1, CreatedAt: t0}
		got, created, err := s.AddTurn(t.Context(), last)
		if err != nil || !created {
			t.Fatalf("AddTurn at the limits = created %v, error %v; want created", created, err)
		}
		if diff := cmp.Diff(last, got); diff != "" {
			t.Errorf("AddTurn at the limits (-want +got):\n%s", diff)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		for name, edit := range map[string]func(*storage.Turn){
			"NegativeNumber":   func(tu *storage.Turn) { tu.Number = -1 },
			"NumberOverMax":    func(tu *storage.Turn) { tu.Number = storage.MaxTurn + 1 },
			"UnknownRole":      func(tu *storage.Turn) { tu.Role = "system" },
			"EmptyRole":        func(tu *storage.Turn) { tu.Role = "" },
			"TextOverMaxBytes": func(tu *storage.Turn) { tu.Text = strings.Repeat("é", storage.MaxTurnText/2) + "!" },
		} {
			tu := caller1
			edit(&tu)
			_, _, err := s.AddTurn(t.Context(), tu)
			wantKind(t, "AddTurn with "+name, err, storage.ErrInvalid)
		}
		if turns := mustGetCall(t, s, sid).Turns; len(turns) != 0 {
			t.Errorf("rejected turns were stored: %+v", turns)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(2, t0))
		_, _, err := s.AddTurn(t.Context(), caller1)
		wantKind(t, "AddTurn to a missing call", err, storage.ErrNotFound)
	})

	t.Run("ConcurrentAddsCreateOne", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		const n = 20
		var (
			got     = make([]storage.Turn, n)
			created = make([]bool, n)
			errs    = make([]error, n)
			texts   = make([]string, n)
		)
		concurrently(n, func(i int) {
			tu := caller1
			tu.Text = fmt.Sprintf("attempt %d", i)
			texts[i] = tu.Text
			got[i], created[i], errs[i] = s.AddTurn(t.Context(), tu)
		})
		stored := mustGetCall(t, s, sid).Turns
		if len(stored) != 1 {
			t.Fatalf("stored %d turns, want 1: %+v", len(stored), stored)
		}
		if !slices.Contains(texts, stored[0].Text) {
			t.Errorf("stored text %q is none of the submitted ones", stored[0].Text)
		}
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("AddTurn %d: %v", i, errs[i])
			}
			if created[i] {
				creators++
			}
			if diff := cmp.Diff(stored[0], got[i]); diff != "" {
				t.Errorf("AddTurn %d returned (-want +got):\n%s", i, diff)
			}
		}
		if creators != 1 {
			t.Errorf("%d adds reported created, want exactly 1", creators)
		}
	})
}

func testApplyStatus(t *testing.T, newStore newStoreFunc) {
	sid := callSID(1)
	ringing := storage.StatusEvent{Status: storage.StatusRinging, At: t0.Add(time.Second), Sequence: 0}
	answered := storage.StatusEvent{Status: storage.StatusInProgress, At: t0.Add(2 * time.Second), Sequence: 1}
	completed := storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 58}
	busy := storage.StatusEvent{Status: storage.StatusBusy, At: t0.Add(3 * time.Second), Sequence: 1, Duration: 0}
	noAnswer := storage.StatusEvent{Status: storage.StatusNoAnswer, At: t0.Add(30 * time.Second), Sequence: 1}
	canceled := storage.StatusEvent{Status: storage.StatusCanceled, At: t0.Add(31 * time.Second), Sequence: 2}
	failed := storage.StatusEvent{Status: storage.StatusFailed, At: t0.Add(4 * time.Second), Sequence: 3}

	// summaryWork fails unless exactly one summary item is due for the call.
	summaryWork := func(t *testing.T, s storage.Store) {
		t.Helper()
		want := []storage.Work{claimed(storage.WorkSummarizeCall, sid, "", 1, "", claimAt)}
		if diff := cmp.Diff(want, drain(t, s, claimAt), ignoreWorkIdentity, equateEmpty); diff != "" {
			t.Errorf("work after the call ended (-want +got):\n%s", diff)
		}
	}

	t.Run("AdvancesInAnyOrder", func(t *testing.T) {
		for _, seq := range [][]storage.StatusEvent{
			{ringing, answered, completed},
			{ringing, completed, answered},
			{answered, ringing, completed},
			{answered, completed, ringing},
			{completed, ringing, answered},
			{completed, answered, ringing},
			{completed, completed, ringing, answered, ringing},
			{answered, answered, completed, ringing, completed, answered},
			{ringing, ringing, ringing, completed, answered, completed},
		} {
			var names []string
			for _, ev := range seq {
				names = append(names, string(ev.Status))
			}
			t.Run(strings.Join(names, ","), func(t *testing.T) {
				s := newStore(t)
				nc := newCall(1, t0)
				mustUpsert(t, s, nc)
				var last storage.Call
				for _, ev := range seq {
					last = mustApply(t, s, sid, ev)
				}
				want := createdCall(nc)
				want.Status = storage.StatusCompleted
				want.EndedAt = &completed.At
				want.Duration = completed.Duration
				if diff := cmp.Diff(want, last, ignoreUpdatedAt, equateEmpty); diff != "" {
					t.Errorf("last ApplyStatus returned (-want +got):\n%s", diff)
				}
				want.Timeline = []storage.StatusEvent{ringing, answered, completed}
				if diff := cmp.Diff(want, mustGetCall(t, s, sid), ignoreUpdatedAt, equateEmpty); diff != "" {
					t.Errorf("GetCall (-want +got):\n%s", diff)
				}
				summaryWork(t, s)
			})
		}
	})

	t.Run("LateStatusDoesNotMoveBack", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		mustApply(t, s, sid, answered)
		got := mustApply(t, s, sid, ringing)
		want := createdCall(nc)
		want.Status = storage.StatusInProgress
		if diff := cmp.Diff(want, got, ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("ApplyStatus of a late ringing (-want +got):\n%s", diff)
		}
		want.Timeline = []storage.StatusEvent{ringing, answered}
		if diff := cmp.Diff(want, mustGetCall(t, s, sid), ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("GetCall (-want +got):\n%s", diff)
		}
		mustNoWork(t, s, claimAt)
	})

	// The timeline of a call given two terminal statuses is left to the
	// store; the status, end and summary work are not.
	t.Run("FirstTerminalStatusWins", func(t *testing.T) {
		for _, seq := range [][]storage.StatusEvent{
			{completed, busy},
			{busy, completed},
			{noAnswer, canceled, answered, ringing},
			{failed, completed, failed},
			{ringing, canceled, noAnswer, answered},
		} {
			var names []string
			for _, ev := range seq {
				names = append(names, string(ev.Status))
			}
			t.Run(strings.Join(names, ","), func(t *testing.T) {
				s := newStore(t)
				nc := newCall(1, t0)
				mustUpsert(t, s, nc)
				for _, ev := range seq {
					mustApply(t, s, sid, ev)
				}
				first := seq[slices.IndexFunc(seq, func(ev storage.StatusEvent) bool { return ev.Status.Terminal() })]
				want := createdCall(nc)
				want.Status = first.Status
				want.EndedAt = &first.At
				want.Duration = first.Duration
				if diff := cmp.Diff(want, bare(mustGetCall(t, s, sid)), ignoreUpdatedAt, equateEmpty); diff != "" {
					t.Errorf("GetCall (-want +got):\n%s", diff)
				}
				summaryWork(t, s)
			})
		}
	})

	t.Run("ConcurrentTerminalEnqueuesOneSummary", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		const n = 20
		errs := make([]error, n)
		concurrently(n, func(i int) {
			ev := completed
			if i%2 == 1 {
				ev = busy
			}
			_, errs[i] = s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, ev)
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("ApplyStatus %d: %v", i, err)
			}
		}
		if st := mustGetCall(t, s, sid).Status; st != storage.StatusCompleted && st != storage.StatusBusy {
			t.Errorf("Status = %q, want completed or busy", st)
		}
		summaryWork(t, s)
	})

	t.Run("InitiatedBetweenQueuedAndRinging", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		nc.Status = storage.StatusQueued
		mustUpsert(t, s, nc)
		for i, st := range []storage.CallStatus{storage.StatusInitiated, storage.StatusQueued, storage.StatusRinging, storage.StatusInitiated} {
			if _, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: st, At: t0.Add(time.Duration(i+1) * time.Second), Sequence: i}); err != nil {
				t.Fatalf("ApplyStatus(%s): %v", st, err)
			}
			want := storage.StatusInitiated
			if i >= 2 {
				want = storage.StatusRinging
			}
			if got := mustGetCall(t, s, sid).Status; got != want {
				t.Fatalf("after %s: status %s, want %s", st, got, want)
			}
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		// "answered" is a StatusCallbackEvent, never a CallStatus.
		for _, st := range []storage.CallStatus{"", "done", "Completed", "answered"} {
			_, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: st, At: t0.Add(time.Second), Sequence: 0})
			wantKind(t, fmt.Sprintf("ApplyStatus(%q)", st), err, storage.ErrInvalid)
		}
		if diff := cmp.Diff(createdCall(nc), mustGetCall(t, s, sid), ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("GetCall after rejected statuses (-want +got):\n%s", diff)
		}
	})

	t.Run("CreatesAMissingCall", func(t *testing.T) {
		// A call whose incoming webhook never arrived (busy, no answer, a
		// lost request) gets its record from its status callback.
		s := newStore(t)
		mustUpsert(t, s, newCall(2, t0))
		nc := newCall(1, t0)
		got, err := s.ApplyStatus(t.Context(), nc, completed)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != storage.StatusCompleted || got.EndedAt == nil || !got.EndedAt.Equal(completed.At) || got.Duration != completed.Duration || got.From != nc.From {
			t.Errorf("created call %+v", got)
		}
		if tl := mustGetCall(t, s, sid).Timeline; len(tl) != 1 || tl[0].Status != storage.StatusCompleted {
			t.Errorf("timeline %+v, want the completed event", tl)
		}
		summaryWork(t, s)
		ringing := storage.NewCall{SID: callSID(3)}
		if got, err := s.ApplyStatus(t.Context(), ringing, storage.StatusEvent{Status: storage.StatusRinging, At: t0, Sequence: 0}); err != nil || got.Status != storage.StatusRinging || got.EndedAt != nil {
			t.Errorf("ringing call created as %+v, %v", got, err)
		}
	})
}

func testAddRecording(t *testing.T, newStore newStoreFunc) {
	archiveWork := func(rec string) []storage.Work {
		return []storage.Work{claimed(storage.WorkArchiveRecording, callSID(1), rec, 1, "", claimAt)}
	}

	t.Run("PendingEnqueuesArchive", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		want := newRecording(1, 1)
		got, created, err := s.AddRecording(t.Context(), want)
		if err != nil || !created {
			t.Fatalf("AddRecording = created %v, error %v; want created", created, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AddRecording (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGetRecording(t, s, want.CallSID, want.SID)); diff != "" {
			t.Errorf("GetRecording (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(archiveWork(want.SID), drain(t, s, claimAt), ignoreWorkIdentity, equateEmpty); diff != "" {
			t.Errorf("work (-want +got):\n%s", diff)
		}
	})

	t.Run("RepeatReturnsOriginal", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		want := mustAddRecording(t, s, newRecording(1, 1))
		again := newRecording(1, 1)
		again.Duration = 99
		again.Channels = 1
		again.CreatedAt = t0.Add(time.Hour)
		got, created, err := s.AddRecording(t.Context(), again)
		if err != nil || created {
			t.Fatalf("second AddRecording = created %v, error %v; want the stored recording", created, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("second AddRecording (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(archiveWork(want.SID), drain(t, s, claimAt), ignoreWorkIdentity, equateEmpty); diff != "" {
			t.Errorf("work (-want +got):\n%s", diff)
		}
	})

	t.Run("ConcurrentAddsCreateOne", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		const n = 20
		var (
			got     = make([]storage.Recording, n)
			created = make([]bool, n)
			errs    = make([]error, n)
		)
		concurrently(n, func(i int) {
			r := newRecording(1, 1)
			r.Duration = i
			got[i], created[i], errs[i] = s.AddRecording(t.Context(), r)
		})
		stored := mustGetRecording(t, s, callSID(1), recordingSID(1))
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("AddRecording %d: %v", i, errs[i])
			}
			if created[i] {
				creators++
			}
			if diff := cmp.Diff(stored, got[i]); diff != "" {
				t.Errorf("AddRecording %d returned (-want +got):\n%s", i, diff)
			}
		}
		if creators != 1 {
			t.Errorf("%d adds reported created, want exactly 1", creators)
		}
		if recs := mustGetCall(t, s, callSID(1)).Recordings; len(recs) != 1 {
			t.Errorf("call has %d recordings, want 1", len(recs))
		}
		if diff := cmp.Diff(archiveWork(stored.SID), drain(t, s, claimAt), ignoreWorkIdentity, equateEmpty); diff != "" {
			t.Errorf("work (-want +got):\n%s", diff)
		}
	})

	t.Run("FailedEnqueuesNothing", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		want := newRecording(1, 1)
		want.State = storage.RecordingFailed
		want.Duration = 0
		want.LastError = "Twilio reported the recording absent"
		if diff := cmp.Diff(want, mustAddRecording(t, s, want)); diff != "" {
			t.Errorf("AddRecording (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGetRecording(t, s, want.CallSID, want.SID)); diff != "" {
			t.Errorf("GetRecording (-want +got):\n%s", diff)
		}
		mustNoWork(t, s, claimAt)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		for _, sid := range []string{"", "RE123", callSID(1), "RE" + strings.Repeat("z", 32)} {
			r := newRecording(1, 1)
			r.SID = sid
			_, _, err := s.AddRecording(t.Context(), r)
			wantKind(t, fmt.Sprintf("AddRecording(%q)", sid), err, storage.ErrInvalid)
		}
		if recs := mustGetCall(t, s, callSID(1)).Recordings; len(recs) != 0 {
			t.Errorf("rejected recordings were stored: %+v", recs)
		}
		mustNoWork(t, s, claimAt)
	})

	t.Run("CreatesAMissingCall", func(t *testing.T) {
		// A recording of a call no other webhook told of: the call was in
		// progress.
		s := newStore(t)
		mustUpsert(t, s, newCall(2, t0))
		rec := newRecording(1, 1)
		if _, created, err := s.AddRecording(t.Context(), rec); err != nil || !created {
			t.Fatalf("AddRecording = %v, %v", created, err)
		}
		c := mustGetCall(t, s, callSID(1))
		if c.Status != storage.StatusInProgress || c.AccountSID != rec.AccountSID || len(c.Recordings) != 1 {
			t.Errorf("created call %+v", c)
		}
		if got := mustClaim(t, s, claimAt); got.Kind != storage.WorkArchiveRecording || got.RecordingSID != rec.SID {
			t.Errorf("work %+v, want the recording's archive", got)
		}
	})
}

func testGetRecording(t *testing.T, newStore newStoreFunc) {
	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustUpsert(t, s, newCall(2, t0))
		mustAddRecording(t, s, newRecording(1, 1))
		for name, ids := range map[string][2]string{
			"MissingRecording":    {callSID(1), recordingSID(2)},
			"OtherCallsRecording": {callSID(2), recordingSID(1)},
			"MissingCall":         {callSID(3), recordingSID(1)},
		} {
			_, err := s.GetRecording(t.Context(), ids[0], ids[1])
			wantKind(t, "GetRecording of "+name, err, storage.ErrNotFound)
		}
	})
}

func testListCalls(t *testing.T, newStore newStoreFunc) {
	list := func(t *testing.T, s storage.Store, f storage.CallFilter) storage.CallPage {
		t.Helper()
		page, err := s.ListCalls(t.Context(), f)
		if err != nil {
			t.Fatalf("ListCalls(%+v): %v", f, err)
		}
		return page
	}
	sids := func(calls []storage.Call) []string {
		out := []string{}
		for _, c := range calls {
			out = append(out, c.SID)
		}
		return out
	}
	// listAll follows cursors from the first page to the last.
	listAll := func(t *testing.T, s storage.Store, f storage.CallFilter, total int) []string {
		t.Helper()
		limit := f.Limit
		if limit == 0 {
			limit = storage.DefaultPageSize
		}
		var all []string
		for pages := 0; ; pages++ {
			if pages > total+1 {
				t.Fatalf("ListCalls(%+v) keeps returning pages", f)
			}
			page := list(t, s, f)
			all = append(all, sids(page.Calls)...)
			if pages > 0 && len(page.Calls) == 0 {
				t.Fatalf("ListCalls(%+v) gave a cursor to an empty page: a page that ends the listing must have no cursor", f)
			}
			if page.NextCursor == "" {
				if len(page.Calls) > limit {
					t.Fatalf("last page has %d calls, limit %d", len(page.Calls), limit)
				}
				return all
			}
			if len(page.Calls) != limit {
				t.Fatalf("page %d has %d calls and a next cursor, want %d", pages, len(page.Calls), limit)
			}
			f.Cursor = page.NextCursor
		}
	}

	t.Run("NewestFirstWithoutParts", func(t *testing.T) {
		s := newStore(t)
		for i, at := range []time.Duration{0, 2 * time.Hour, time.Hour, 2 * time.Hour, 3 * time.Hour} {
			mustUpsert(t, s, newCall(i+1, t0.Add(at)))
		}
		// Give call 3 every part GetCall fills.
		mustApply(t, s, callSID(3), storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(61 * time.Minute), Sequence: 2, Duration: 60})
		mustAddTurn(t, s, storage.Turn{CallSID: callSID(3), Number: 0, Role: storage.RoleAssistant, Text: "Hello!", Confidence: -1, CreatedAt: t0.Add(time.Hour)})
		mustAddRecording(t, s, newRecording(1, 3))
		for _, w := range drain(t, s, claimAt) {
			if w.Kind == storage.WorkSummarizeCall {
				if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Greeted.", CreatedAt: t0.Add(2 * time.Hour)}, false); err != nil {
					t.Fatalf("CompleteSummary: %v", err)
				}
			}
		}
		var want []storage.Call
		for _, n := range []int{5, 4, 2, 3, 1} {
			want = append(want, bare(mustGetCall(t, s, callSID(n))))
		}
		page := list(t, s, storage.CallFilter{})
		if diff := cmp.Diff(storage.CallPage{Calls: want}, page, equateEmpty); diff != "" {
			t.Errorf("ListCalls (-want +got):\n%s", diff)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []struct {
			n        int
			at       time.Duration
			from, to string
			status   storage.CallStatus
		}{
			{1, 0, "+15550001", "+15559001", storage.StatusRinging},
			{2, time.Hour, "+15550002", "+15559001", storage.StatusInProgress},
			{3, 2 * time.Hour, "+15550001", "+15559002", storage.StatusCompleted},
			{4, 3 * time.Hour, "+15550002", "+15559002", storage.StatusRinging},
			{5, 3 * time.Hour, "+15550001", "+15559001", storage.StatusCompleted},
			{6, 4 * time.Hour, "anonymous", "+15559003", storage.StatusBusy},
		} {
			nc := newCall(c.n, t0.Add(c.at))
			nc.From, nc.To = c.from, c.to
			mustUpsert(t, s, nc)
			if c.status != storage.StatusRinging {
				mustApply(t, s, nc.SID, storage.StatusEvent{Status: c.status, At: nc.At.Add(time.Minute), Sequence: 1})
			}
		}
		for _, tc := range []struct {
			name string
			f    storage.CallFilter
			want []int
		}{
			{"None", storage.CallFilter{}, []int{6, 5, 4, 3, 2, 1}},
			{"StatusRinging", storage.CallFilter{Status: storage.StatusRinging}, []int{4, 1}},
			{"StatusCompleted", storage.CallFilter{Status: storage.StatusCompleted}, []int{5, 3}},
			{"From", storage.CallFilter{From: "+15550001"}, []int{5, 3, 1}},
			{"To", storage.CallFilter{To: "+15559001"}, []int{5, 2, 1}},
			{"FromAndTo", storage.CallFilter{From: "+15550001", To: "+15559001"}, []int{5, 1}},
			{"SinceIsInclusive", storage.CallFilter{Since: t0.Add(2 * time.Hour)}, []int{6, 5, 4, 3}},
			{"UntilIsExclusive", storage.CallFilter{Until: t0.Add(3 * time.Hour)}, []int{3, 2, 1}},
			{"SinceAndUntil", storage.CallFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, []int{3, 2}},
			{"Everything", storage.CallFilter{Status: storage.StatusCompleted, From: "+15550001", To: "+15559001", Since: t0.Add(3 * time.Hour), Until: t0.Add(4 * time.Hour)}, []int{5}},
			{"NoMatch", storage.CallFilter{From: "+15550009"}, []int{}},
			{"NumberFullFromOrTo", storage.CallFilter{Number: "+15550001"}, []int{5, 3, 1}},
			{"NumberFullTo", storage.CallFilter{Number: "+15559002"}, []int{4, 3}},
			{"NumberFullIsNotASuffix", storage.CallFilter{Number: "+5550001"}, []int{}},
			{"NumberLastFourFromOrTo", storage.CallFilter{Number: "9001"}, []int{5, 2, 1}},
			{"NumberLongerSuffix", storage.CallFilter{Number: "50001"}, []int{5, 3, 1}},
			{"NumberAsTyped", storage.CallFilter{Number: " 555-0002 "}, []int{4, 2}},
			{"NumberAndStatus", storage.CallFilter{Number: "0001", Status: storage.StatusCompleted}, []int{5, 3}},
			{"NumberAndSince", storage.CallFilter{Number: "0001", Since: t0.Add(2 * time.Hour)}, []int{5, 3}},
			{"NumberNoMatch", storage.CallFilter{Number: "7777"}, []int{}},
			{"Active", storage.CallFilter{Active: true}, []int{4, 2, 1}},
			{"ActiveAndNumber", storage.CallFilter{Active: true, Number: "9001"}, []int{2, 1}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := []string{}
				for _, n := range tc.want {
					want = append(want, callSID(n))
				}
				page := list(t, s, tc.f)
				if diff := cmp.Diff(want, sids(page.Calls)); diff != "" {
					t.Errorf("ListCalls(%+v) (-want +got):\n%s", tc.f, diff)
				}
				if page.NextCursor != "" {
					t.Errorf("NextCursor = %q on the only page", page.NextCursor)
				}
			})
		}
	})

	t.Run("PagesWithoutGapsOrDuplicates", func(t *testing.T) {
		s := newStore(t)
		const total = 120
		type key struct {
			at  time.Time
			sid string
		}
		var all, ringing []key
		for i := range total {
			// Ten calls share each instant, and SIDs do not follow creation
			// order, so the SID tie-break decides within each instant.
			k := key{t0.Add(time.Duration(i/10) * time.Minute), callSID((i * 7919) % 1009)}
			// Every other call the other way round, so a number search
			// pages through both of its branches (from and to) at once.
			from, to := caller, callee
			if i%2 == 1 {
				from, to = callee, caller
			}
			mustUpsert(t, s, storage.NewCall{SID: k.sid, AccountSID: accountSID, From: from, To: to, Direction: "inbound", At: k.at})
			all = append(all, k)
			if i%3 == 0 {
				mustApply(t, s, k.sid, storage.StatusEvent{Status: storage.StatusInProgress, At: k.at.Add(time.Second), Sequence: 1})
			} else {
				ringing = append(ringing, k)
			}
		}
		order := func(keys []key) []string {
			keys = slices.Clone(keys)
			slices.SortFunc(keys, func(a, b key) int {
				if c := b.at.Compare(a.at); c != 0 {
					return c
				}
				return strings.Compare(b.sid, a.sid)
			})
			var out []string
			for _, k := range keys {
				out = append(out, k.sid)
			}
			return out
		}
		for _, limit := range []int{1, 7, 40, 50, 119, 120, 200} {
			t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
				got := listAll(t, s, storage.CallFilter{Limit: limit}, total)
				if diff := cmp.Diff(order(all), got); diff != "" {
					t.Errorf("calls over all pages (-want +got):\n%s", diff)
				}
			})
		}
		t.Run("FilteredLimit7", func(t *testing.T) {
			got := listAll(t, s, storage.CallFilter{Status: storage.StatusRinging, Limit: 7}, total)
			if diff := cmp.Diff(order(ringing), got); diff != "" {
				t.Errorf("ringing calls over all pages (-want +got):\n%s", diff)
			}
		})
		for _, number := range []string{caller, caller[len(caller)-4:], caller[len(caller)-7:]} {
			t.Run("Number"+number+"Limit7", func(t *testing.T) {
				got := listAll(t, s, storage.CallFilter{Number: number, Limit: 7}, total)
				if diff := cmp.Diff(order(all), got); diff != "" {
					t.Errorf("calls from or to %s over all pages (-want +got):\n%s", number, diff)
				}
			})
		}
		t.Run("ActiveLimit7", func(t *testing.T) {
			got := listAll(t, s, storage.CallFilter{Active: true, Limit: 7}, total)
			if diff := cmp.Diff(order(all), got); diff != "" {
				t.Errorf("active calls over all pages (-want +got):\n%s", diff)
			}
		})
		t.Run("CursorIsSharedEncoding", func(t *testing.T) {
			first := list(t, s, storage.CallFilter{Limit: 13})
			last := first.Calls[len(first.Calls)-1]
			if want := storage.EncodeCursor(last.CreatedAt, last.SID); first.NextCursor != want {
				t.Errorf("NextCursor = %q, want %q", first.NextCursor, want)
			}
			// A cursor made by any store continues the listing in this one.
			next := list(t, s, storage.CallFilter{Limit: 5, Cursor: storage.EncodeCursor(last.CreatedAt, last.SID)})
			if diff := cmp.Diff(order(all)[13:18], sids(next.Calls)); diff != "" {
				t.Errorf("page after a shared cursor (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("LimitDefaultsAndCap", func(t *testing.T) {
		s := newStore(t)
		const total = storage.MaxPageSize + 10
		for i := range total {
			mustUpsert(t, s, newCall(i+1, t0.Add(time.Duration(i)*time.Second)))
		}
		page := list(t, s, storage.CallFilter{})
		if len(page.Calls) != storage.DefaultPageSize || page.NextCursor == "" {
			t.Errorf("Limit 0 gave %d calls, cursor %q; want %d and a cursor", len(page.Calls), page.NextCursor, storage.DefaultPageSize)
		}
		page = list(t, s, storage.CallFilter{Limit: 10 * storage.MaxPageSize})
		if len(page.Calls) != storage.MaxPageSize || page.NextCursor == "" {
			t.Fatalf("Limit %d gave %d calls, cursor %q; want %d and a cursor", 10*storage.MaxPageSize, len(page.Calls), page.NextCursor, storage.MaxPageSize)
		}
		page = list(t, s, storage.CallFilter{Limit: 10 * storage.MaxPageSize, Cursor: page.NextCursor})
		if len(page.Calls) != total-storage.MaxPageSize || page.NextCursor != "" {
			t.Errorf("second capped page gave %d calls, cursor %q; want %d and no cursor", len(page.Calls), page.NextCursor, total-storage.MaxPageSize)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		for name, f := range map[string]storage.CallFilter{
			"CursorNotBase64":    {Cursor: "!!!"},
			"CursorNoSeparator":  {Cursor: "bm90LWEtY3Vyc29y"},
			"CursorRecordingSID": {Cursor: base64.RawURLEncoding.EncodeToString([]byte("1770896905123456|" + recordingSID(1)))},
			"CursorBadTime":      {Cursor: base64.RawURLEncoding.EncodeToString([]byte("yesterday|" + callSID(1)))},
			"CursorTooLong":      {Cursor: strings.Repeat("A", 200)},
			"UnknownStatus":      {Status: "bogus"},
			"NumberTooShort":     {Number: "123"},
			"NumberPlusTooShort": {Number: "+12"},
			"NumberTooLong":      {Number: "+1234567890123456"},
			"NumberLetters":      {Number: "555-CALL"},
			"NumberWildcard":     {Number: "12%4"},
			"NumberPlusInside":   {Number: "1+2345"},
		} {
			_, err := s.ListCalls(t.Context(), f)
			wantKind(t, "ListCalls with "+name, err, storage.ErrInvalid)
		}
	})
}

func testClaimWork(t *testing.T, newStore newStoreFunc) {
	// endCalls ends calls 1..n in order, enqueueing one summary each.
	endCalls := func(t *testing.T, s storage.Store, n int) {
		t.Helper()
		for i := 1; i <= n; i++ {
			mustUpsert(t, s, newCall(i, t0))
			mustApply(t, s, callSID(i), storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
		}
	}

	t.Run("NothingDue", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustNoWork(t, s, claimAt)
	})

	t.Run("OldestFirst", func(t *testing.T) {
		s := newStore(t)
		endCalls(t, s, 3)
		var want []storage.Work
		for i := 1; i <= 3; i++ {
			want = append(want, claimed(storage.WorkSummarizeCall, callSID(i), "", 1, "", claimAt))
		}
		got := drain(t, s, claimAt)
		if diff := cmp.Diff(want, got, ignoreWorkIdentity, equateEmpty); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
		ids := map[int64]bool{}
		for _, w := range got {
			ids[w.ID] = true
		}
		if len(ids) != len(got) {
			t.Errorf("work IDs repeat: %+v", got)
		}
	})

	t.Run("LeasedItemIsNotClaimable", func(t *testing.T) {
		s := newStore(t)
		endCalls(t, s, 1)
		mustClaim(t, s, claimAt)
		mustNoWork(t, s, claimAt)
		mustNoWork(t, s, claimAt.Add(lease-time.Second))
	})

	t.Run("ExpiredLeaseIsClaimedAgain", func(t *testing.T) {
		s := newStore(t)
		endCalls(t, s, 1)
		first := mustClaim(t, s, claimAt)
		later := claimAt.Add(lease + time.Second)
		second := mustClaim(t, s, later)
		if second.ID != first.ID {
			t.Fatalf("reclaimed item %d, want %d", second.ID, first.ID)
		}
		if second.Lease == first.Lease {
			t.Errorf("reclaim kept the lease %q", first.Lease)
		}
		want := claimed(storage.WorkSummarizeCall, callSID(1), "", 2, "", later)
		if diff := cmp.Diff(want, second, ignoreWorkIdentity); diff != "" {
			t.Errorf("reclaimed work (-want +got):\n%s", diff)
		}
	})

	t.Run("ConcurrentClaimersNeverShare", func(t *testing.T) {
		s := newStore(t)
		const items, claimers = 50, 8
		endCalls(t, s, items)
		got := make([][]storage.Work, claimers)
		errs := make([]error, claimers)
		concurrently(claimers, func(i int) {
			for {
				w, ok, err := s.ClaimWork(t.Context(), claimAt, lease)
				if err != nil || !ok {
					errs[i] = err
					return
				}
				got[i] = append(got[i], w)
				if len(got[i]) > items {
					return // items are being handed out twice; reported below
				}
			}
		})
		seen := map[int64]int{}
		calls := map[string]int{}
		for i := range claimers {
			if errs[i] != nil {
				t.Fatalf("claimer %d: %v", i, errs[i])
			}
			for _, w := range got[i] {
				seen[w.ID]++
				calls[w.CallSID]++
				if w.Attempts != 1 {
					t.Errorf("item %d claimed with Attempts %d, want 1", w.ID, w.Attempts)
				}
			}
		}
		if len(seen) != items || len(calls) != items {
			t.Errorf("claimed %d distinct items for %d calls, want %d", len(seen), len(calls), items)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("item %d claimed %d times", id, n)
			}
		}
	})

	t.Run("ErrConflictAfterCompletion", func(t *testing.T) {
		s := newStore(t)
		endCalls(t, s, 1)
		w := mustClaim(t, s, claimAt)
		if err := s.CompleteWork(t.Context(), w); err != nil {
			t.Fatalf("CompleteWork: %v", err)
		}
		wantKind(t, "second CompleteWork", s.CompleteWork(t.Context(), w), storage.ErrConflict)
		wantKind(t, "ReleaseWork of completed work", s.ReleaseWork(t.Context(), w), storage.ErrConflict)
		mustNoWork(t, s, claimAt.Add(100*lease))
	})
}

// archiveSetup makes call 1 with pending recording 1 and claims its archive work.
func archiveSetup(t *testing.T, s storage.Store) (storage.Recording, storage.Work) {
	t.Helper()
	mustUpsert(t, s, newCall(1, t0))
	rec := mustAddRecording(t, s, newRecording(1, 1))
	return rec, mustClaim(t, s, claimAt)
}

func testFailWork(t *testing.T, newStore newStoreFunc) {
	t.Run("RetriesAtRetryAt", func(t *testing.T) {
		s := newStore(t)
		rec, w := archiveSetup(t, s)
		retryAt := claimAt.Add(10 * time.Minute)
		if err := s.FailWork(t.Context(), w, storage.Failure{Err: "download: 404 Not Found", RetryAt: retryAt}); err != nil {
			t.Fatalf("FailWork: %v", err)
		}
		rec.LastError, rec.Attempts = "download: 404 Not Found", 1
		if diff := cmp.Diff(rec, mustGetRecording(t, s, rec.CallSID, rec.SID)); diff != "" {
			t.Errorf("GetRecording after a failure (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]storage.Recording{rec}, mustGetCall(t, s, rec.CallSID).Recordings); diff != "" {
			t.Errorf("GetCall recordings after a failure (-want +got):\n%s", diff)
		}
		mustNoWork(t, s, claimAt.Add(lease+time.Second))
		mustNoWork(t, s, retryAt.Add(-time.Second))
		again := mustClaim(t, s, retryAt)
		if again.ID != w.ID {
			t.Fatalf("claimed item %d after the retry time, want %d", again.ID, w.ID)
		}
		want := claimed(storage.WorkArchiveRecording, rec.CallSID, rec.SID, 2, "download: 404 Not Found", retryAt)
		if diff := cmp.Diff(want, again, ignoreWorkIdentity); diff != "" {
			t.Errorf("retried work (-want +got):\n%s", diff)
		}
		if err := s.FailWork(t.Context(), again, storage.Failure{Err: "download: timeout", RetryAt: retryAt.Add(time.Hour)}); err != nil {
			t.Fatalf("second FailWork: %v", err)
		}
		rec.LastError, rec.Attempts = "download: timeout", 2
		if diff := cmp.Diff(rec, mustGetRecording(t, s, rec.CallSID, rec.SID)); diff != "" {
			t.Errorf("GetRecording after two failures (-want +got):\n%s", diff)
		}
	})

	t.Run("FinalMarksRecordingFailed", func(t *testing.T) {
		s := newStore(t)
		rec, w := archiveSetup(t, s)
		if err := s.FailWork(t.Context(), w, storage.Failure{Err: "download: 404 Not Found", Final: true}); err != nil {
			t.Fatalf("FailWork: %v", err)
		}
		rec.State, rec.LastError, rec.Attempts = storage.RecordingFailed, "download: 404 Not Found", 1
		if diff := cmp.Diff(rec, mustGetRecording(t, s, rec.CallSID, rec.SID)); diff != "" {
			t.Errorf("GetRecording after giving up (-want +got):\n%s", diff)
		}
		mustNoWork(t, s, claimAt.Add(1000*time.Hour))
		wantKind(t, "CompleteWork after giving up", s.CompleteWork(t.Context(), w), storage.ErrConflict)
	})

	t.Run("FinalRemovesSummaryWork", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
		w := mustClaim(t, s, claimAt)
		if err := s.FailWork(t.Context(), w, storage.Failure{Err: "assistant: 500", Final: true}); err != nil {
			t.Fatalf("FailWork: %v", err)
		}
		mustNoWork(t, s, claimAt.Add(1000*time.Hour))
		if sum := mustGetCall(t, s, nc.SID).Summary; sum != nil {
			t.Errorf("Summary = %+v after giving up, want none", sum)
		}
	})
}

func testReleaseWork(t *testing.T, newStore newStoreFunc) {
	t.Run("ClaimableAtOnceAttemptNotCounted", func(t *testing.T) {
		s := newStore(t)
		rec, w := archiveSetup(t, s)
		if err := s.ReleaseWork(t.Context(), w); err != nil {
			t.Fatalf("ReleaseWork: %v", err)
		}
		if diff := cmp.Diff(rec, mustGetRecording(t, s, rec.CallSID, rec.SID)); diff != "" {
			t.Errorf("GetRecording after a release (-want +got):\n%s", diff)
		}
		again := mustClaim(t, s, claimAt)
		if again.ID != w.ID || again.Lease == w.Lease {
			t.Fatalf("claim after release = item %d lease %q, want item %d with a new lease", again.ID, again.Lease, w.ID)
		}
		want := claimed(storage.WorkArchiveRecording, rec.CallSID, rec.SID, 1, "", claimAt)
		if diff := cmp.Diff(want, again, ignoreWorkIdentity); diff != "" {
			t.Errorf("work claimed after a release (-want +got):\n%s", diff)
		}
	})

	t.Run("KeepsLastError", func(t *testing.T) {
		s := newStore(t)
		rec, w := archiveSetup(t, s)
		if err := s.FailWork(t.Context(), w, storage.Failure{Err: "download: 503", RetryAt: claimAt}); err != nil {
			t.Fatalf("FailWork: %v", err)
		}
		w = mustClaim(t, s, claimAt)
		if err := s.ReleaseWork(t.Context(), w); err != nil {
			t.Fatalf("ReleaseWork: %v", err)
		}
		want := claimed(storage.WorkArchiveRecording, rec.CallSID, rec.SID, 2, "download: 503", claimAt)
		if diff := cmp.Diff(want, mustClaim(t, s, claimAt), ignoreWorkIdentity); diff != "" {
			t.Errorf("work claimed after a release (-want +got):\n%s", diff)
		}
	})
}

func testCompleteRecording(t *testing.T, newStore newStoreFunc) {
	blob := storage.StoredBlob{Key: "recordings/" + accountSID + "/2026/02/12/" + callSID(1) + "/" + recordingSID(1) + ".wav", Size: 1234567, SHA256: strings.Repeat("0f", 32), ContentType: "audio/x-wav"}

	for _, deleteMedia := range []bool{false, true} {
		name := "StoresBlob"
		if deleteMedia {
			name = "StoresBlobAndEnqueuesMediaDeletion"
		}
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			rec, w := archiveSetup(t, s)
			if err := s.CompleteRecording(t.Context(), w, blob, deleteMedia); err != nil {
				t.Fatalf("CompleteRecording: %v", err)
			}
			got := mustGetRecording(t, s, rec.CallSID, rec.SID)
			if got.StoredAt == nil || got.StoredAt.IsZero() {
				t.Errorf("StoredAt = %v, want the time it was stored", got.StoredAt)
			}
			rec.State = storage.RecordingStored
			rec.BlobKey, rec.Size, rec.SHA256, rec.ContentType = blob.Key, blob.Size, blob.SHA256, blob.ContentType
			if diff := cmp.Diff(rec, got, cmpopts.IgnoreFields(storage.Recording{}, "StoredAt", "Attempts")); diff != "" {
				t.Errorf("GetRecording (-want +got):\n%s", diff)
			}
			var want []storage.Work
			if deleteMedia {
				want = append(want, claimed(storage.WorkDeleteTwilioMedia, rec.CallSID, rec.SID, 1, "", claimAt))
			}
			work := drain(t, s, claimAt)
			if diff := cmp.Diff(want, work, ignoreWorkIdentity, equateEmpty); diff != "" {
				t.Errorf("work after CompleteRecording (-want +got):\n%s", diff)
			}
			for _, w := range work {
				if err := s.CompleteWork(t.Context(), w); err != nil {
					t.Fatalf("CompleteWork: %v", err)
				}
			}
			mustNoWork(t, s, claimAt.Add(1000*time.Hour))
		})
	}
}

func testCompleteSummary(t *testing.T, newStore newStoreFunc) {
	t.Run("StoresSummary", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusNoAnswer, At: t0.Add(30 * time.Second), Sequence: 1})
		w := mustClaim(t, s, claimAt)
		want := storage.Summary{Text: "Nobody answered.", Reason: "unknown", Outcome: "no answer", CreatedAt: t0.Add(time.Hour)}
		if err := s.CompleteSummary(t.Context(), w, want, false); err != nil {
			t.Fatalf("CompleteSummary: %v", err)
		}
		if diff := cmp.Diff(&want, mustGetCall(t, s, nc.SID).Summary); diff != "" {
			t.Errorf("Summary (-want +got):\n%s", diff)
		}
		mustNoWork(t, s, claimAt.Add(1000*time.Hour))
	})
}

func testStaleLease(t *testing.T, newStore newStoreFunc) {
	// reclaim claims the only item, lets its lease expire and claims it again.
	reclaim := func(t *testing.T, s storage.Store) (stale, fresh storage.Work) {
		t.Helper()
		stale = mustClaim(t, s, claimAt)
		fresh = mustClaim(t, s, claimAt.Add(lease+time.Second))
		if fresh.ID != stale.ID {
			t.Fatalf("reclaimed item %d, want %d", fresh.ID, stale.ID)
		}
		return stale, fresh
	}

	t.Run("ErrConflictForSummaryWork", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
		stale, fresh := reclaim(t, s)
		wantKind(t, "CompleteSummary", s.CompleteSummary(t.Context(), stale, storage.Summary{Text: "stale", CreatedAt: t0}, false), storage.ErrConflict)
		wantKind(t, "CompleteWork", s.CompleteWork(t.Context(), stale), storage.ErrConflict)
		wantKind(t, "FailWork", s.FailWork(t.Context(), stale, storage.Failure{Err: "stale", Final: true}), storage.ErrConflict)
		wantKind(t, "ReleaseWork", s.ReleaseWork(t.Context(), stale), storage.ErrConflict)
		if sum := mustGetCall(t, s, nc.SID).Summary; sum != nil {
			t.Errorf("stale CompleteSummary stored %+v", sum)
		}
		want := storage.Summary{Text: "fresh", CreatedAt: t0.Add(time.Hour)}
		if err := s.CompleteSummary(t.Context(), fresh, want, false); err != nil {
			t.Fatalf("CompleteSummary with the current lease: %v", err)
		}
		if diff := cmp.Diff(&want, mustGetCall(t, s, nc.SID).Summary); diff != "" {
			t.Errorf("Summary (-want +got):\n%s", diff)
		}
		wantKind(t, "second CompleteSummary", s.CompleteSummary(t.Context(), fresh, want, false), storage.ErrConflict)
	})

	t.Run("ErrConflictForRecordingWork", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		rec := mustAddRecording(t, s, newRecording(1, 1))
		stale, fresh := reclaim(t, s)
		blob := storage.StoredBlob{Key: "recordings/" + rec.SID + ".wav", Size: 10, SHA256: strings.Repeat("0", 64), ContentType: "audio/wav"}
		wantKind(t, "CompleteRecording", s.CompleteRecording(t.Context(), stale, blob, true), storage.ErrConflict)
		wantKind(t, "FailWork", s.FailWork(t.Context(), stale, storage.Failure{Err: "stale", Final: true}), storage.ErrConflict)
		got := mustGetRecording(t, s, rec.CallSID, rec.SID)
		if got.State != storage.RecordingPending || got.LastError != "" {
			t.Errorf("after stale calls the recording is %s with error %q, want pending without error", got.State, got.LastError)
		}
		if err := s.ReleaseWork(t.Context(), fresh); err != nil {
			t.Fatalf("ReleaseWork with the current lease: %v", err)
		}
		if again := mustClaim(t, s, claimAt.Add(lease+time.Second)); again.ID != fresh.ID {
			t.Errorf("claimed item %d after release, want %d", again.ID, fresh.ID)
		}
	})
}

func testDeleteCall(t *testing.T, newStore newStoreFunc) {
	t.Run("RemovesEverything", func(t *testing.T) {
		s := newStore(t)
		gone, kept := newCall(1, t0), newCall(2, t0.Add(time.Second))
		mustUpsert(t, s, gone)
		mustUpsert(t, s, kept)
		for _, sid := range []string{gone.SID, kept.SID} {
			mustAddTurn(t, s, storage.Turn{CallSID: sid, Number: 0, Role: storage.RoleAssistant, Text: "Hello!", Confidence: -1, CreatedAt: t0})
			mustApply(t, s, sid, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
		}
		mustAddRecording(t, s, newRecording(1, 1))
		mustAddRecording(t, s, newRecording(2, 1))
		mustAddRecording(t, s, newRecording(3, 2))
		// One of the deleted call's items is leased when the call goes.
		leased := mustClaim(t, s, claimAt)
		if leased.CallSID != gone.SID {
			t.Fatalf("first claim is %+v, want the deleted call's summary work", leased)
		}
		want := mustGetCall(t, s, gone.SID).Recordings

		got, err := s.DeleteCall(t.Context(), gone.SID, storage.DeleteOptions{})
		if err != nil {
			t.Fatalf("DeleteCall: %v", err)
		}
		if diff := cmp.Diff(want, got, recordingsBySID); diff != "" {
			t.Errorf("DeleteCall returned (-want +got):\n%s", diff)
		}
		_, err = s.GetCall(t.Context(), gone.SID)
		wantKind(t, "GetCall of a deleted call", err, storage.ErrNotFound)
		_, err = s.GetRecording(t.Context(), gone.SID, recordingSID(1))
		wantKind(t, "GetRecording of a deleted call", err, storage.ErrNotFound)
		_, _, err = s.AddTurn(t.Context(), storage.Turn{CallSID: gone.SID, Number: 1, Role: storage.RoleCaller, Text: "Hi", CreatedAt: t0})
		wantKind(t, "AddTurn to a deleted call", err, storage.ErrGone)
		_, err = interrupter(t, s).InterruptTurn(t.Context(), gone.SID, 1, "Hi")
		wantKind(t, "InterruptTurn on a deleted call", err, storage.ErrGone)
		_, err = s.DeleteCall(t.Context(), gone.SID, storage.DeleteOptions{})
		wantKind(t, "second DeleteCall", err, storage.ErrNotFound)

		page, err := s.ListCalls(t.Context(), storage.CallFilter{})
		if err != nil {
			t.Fatalf("ListCalls: %v", err)
		}
		if len(page.Calls) != 1 || page.Calls[0].SID != kept.SID {
			t.Errorf("ListCalls after delete = %+v, want only %s", page.Calls, kept.SID)
		}
		// The leased item is gone too, even once its lease expires.
		for _, w := range drain(t, s, claimAt.Add(100*lease)) {
			if w.CallSID != kept.SID {
				t.Errorf("claimed %+v of the deleted call", w)
			}
		}
		if err := s.CompleteWork(t.Context(), leased); err == nil {
			t.Errorf("CompleteWork of the deleted call's work succeeded")
		}
		keptCall := mustGetCall(t, s, kept.SID)
		if len(keptCall.Turns) != 1 || len(keptCall.Recordings) != 1 || len(keptCall.Timeline) != 1 {
			t.Errorf("the other call lost parts: %+v", keptCall)
		}

		// Once its tombstone is purged the SID may be used again, and nothing
		// of the old call comes back under it.
		wantKind(t, "UpsertCall of a deleted call", upsertErr(t, s, gone), storage.ErrGone)
		finishPurges(t, s)
		if n, err := s.PurgeTombstones(t.Context(), claimAt, 10); err != nil || n != 1 {
			t.Fatalf("PurgeTombstones = %d, %v; want 1 purged", n, err)
		}
		mustUpsert(t, s, gone)
		if diff := cmp.Diff(createdCall(gone), mustGetCall(t, s, gone.SID), ignoreUpdatedAt, equateEmpty); diff != "" {
			t.Errorf("call created again after delete (-want +got):\n%s", diff)
		}
		if _, created, err := s.AddRecording(t.Context(), newRecording(1, 1)); err != nil || !created {
			t.Errorf("AddRecording of a deleted recording = created %v, error %v; want created", created, err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(2, t0))
		_, err := s.DeleteCall(t.Context(), callSID(1), storage.DeleteOptions{})
		wantKind(t, "DeleteCall of a missing call", err, storage.ErrNotFound)
	})
}

// testCopies checks that values handed out or taken in share no memory with
// the store: handlers edit what they get back.
func testCopies(t *testing.T, newStore newStoreFunc) {
	t.Run("CallerEditsDoNotLeak", func(t *testing.T) {
		s := newStore(t)
		nc := newCall(1, t0)
		mustUpsert(t, s, nc)
		mustAddTurn(t, s, storage.Turn{CallSID: nc.SID, Number: 0, Role: storage.RoleAssistant, Text: "Hello!", Confidence: -1, CreatedAt: t0})
		in := newRecording(1, 1)
		mustAddRecording(t, s, in)
		*in.StartedAt = in.StartedAt.Add(time.Hour)
		mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
		for _, w := range drain(t, s, claimAt) {
			if w.Kind == storage.WorkSummarizeCall {
				if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Greeted.", CreatedAt: t0.Add(time.Hour)}, false); err != nil {
					t.Fatalf("CompleteSummary: %v", err)
				}
			}
		}
		want := mustGetCall(t, s, nc.SID)
		if want.Recordings[0].StartedAt.Equal(*in.StartedAt) {
			t.Errorf("editing AddRecording's input changed the stored StartedAt")
		}

		got := mustGetCall(t, s, nc.SID)
		got.Turns[0].Text = "edited"
		got.Timeline[0].Status = storage.StatusBusy
		*got.EndedAt = got.EndedAt.Add(time.Hour)
		got.Summary.Text = "edited"
		got.Recordings[0].State = storage.RecordingFailed
		*got.Recordings[0].StartedAt = got.Recordings[0].StartedAt.Add(time.Hour)
		rec := mustGetRecording(t, s, nc.SID, in.SID)
		*rec.StartedAt = rec.StartedAt.Add(time.Hour)
		applied := mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
		*applied.EndedAt = applied.EndedAt.Add(time.Hour)

		if diff := cmp.Diff(want, mustGetCall(t, s, nc.SID)); diff != "" {
			t.Errorf("GetCall after editing returned values (-want +got):\n%s", diff)
		}
	})
}

// upsertErr is the error of UpsertCall(nc); the call it returns must be zero
// when there is one.
func upsertErr(t *testing.T, s storage.Store, nc storage.NewCall) error {
	t.Helper()
	c, _, err := s.StartCall(t.Context(), nc, storage.Turn{})
	if err != nil && c.SID != "" {
		t.Errorf("UpsertCall(%s) returned call %+v with error %v", nc.SID, c, err)
	}
	return err
}

// endedCall creates call n with a greeting, a pending recording (n) and a
// terminal status, leaving its archive and summary work pending.
func endedCall(t *testing.T, s storage.Store, n int) storage.NewCall {
	t.Helper()
	nc := newCall(n, t0.Add(time.Duration(n)*time.Second))
	mustUpsert(t, s, nc)
	mustAddTurn(t, s, storage.Turn{CallSID: nc.SID, Number: 0, Role: storage.RoleAssistant, Text: "Hello!", Confidence: -1, CreatedAt: t0})
	mustAddRecording(t, s, newRecording(n, n))
	mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2, Duration: 60})
	return nc
}

func mustDelete(t *testing.T, s storage.Store, sid string) []storage.Recording {
	t.Helper()
	recs, err := s.DeleteCall(t.Context(), sid, storage.DeleteOptions{})
	if err != nil {
		t.Fatalf("DeleteCall(%s): %v", sid, err)
	}
	return recs
}

// allStatuses is every status a callback may report.
var allStatuses = []storage.CallStatus{
	storage.StatusQueued, storage.StatusRinging, storage.StatusInProgress, storage.StatusCompleted,
	storage.StatusBusy, storage.StatusFailed, storage.StatusNoAnswer, storage.StatusCanceled,
}

func testTombstones(t *testing.T, newStore newStoreFunc) {
	t.Run("ErrGoneForEveryWriteAfterDelete", func(t *testing.T) {
		s := newStore(t)
		gone, kept := endedCall(t, s, 1), endedCall(t, s, 2)
		mustDelete(t, s, gone.SID)

		err := upsertErr(t, s, gone)
		wantKind(t, "UpsertCall", err, storage.ErrGone)
		if !strings.Contains(storage.Message(err), gone.SID) {
			t.Errorf("UpsertCall error %q does not name the call", storage.Message(err))
		}
		for _, st := range allStatuses {
			_, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: gone.SID}, storage.StatusEvent{Status: st, At: t0.Add(2 * time.Minute), Sequence: 9})
			wantKind(t, "ApplyStatus "+string(st), err, storage.ErrGone)
		}
		for _, tu := range []storage.Turn{
			{CallSID: gone.SID, Number: 0, Role: storage.RoleAssistant, Text: "Hello!", CreatedAt: t0},
			{CallSID: gone.SID, Number: 1, Role: storage.RoleCaller, Text: "Hi", CreatedAt: t0},
		} {
			_, created, err := s.AddTurn(t.Context(), tu)
			wantKind(t, fmt.Sprintf("AddTurn %d %s", tu.Number, tu.Role), err, storage.ErrGone)
			if created {
				t.Errorf("AddTurn %d %s reports a created turn", tu.Number, tu.Role)
			}
		}
		failed := newRecording(3, 1)
		failed.State, failed.LastError = storage.RecordingFailed, "Twilio reported the recording absent"
		for _, r := range []storage.Recording{newRecording(1, 1), newRecording(4, 1), failed} {
			_, created, err := s.AddRecording(t.Context(), r)
			wantKind(t, "AddRecording "+r.SID, err, storage.ErrGone)
			if created {
				t.Errorf("AddRecording %s reports a created recording", r.SID)
			}
		}

		// Nothing was stored: no call, no recording, no work.
		_, err = s.GetCall(t.Context(), gone.SID)
		wantKind(t, "GetCall", err, storage.ErrNotFound)
		for _, rsid := range []string{recordingSID(1), recordingSID(3), recordingSID(4)} {
			_, err = s.GetRecording(t.Context(), gone.SID, rsid)
			wantKind(t, "GetRecording "+rsid, err, storage.ErrNotFound)
		}
		_, err = s.DeleteCall(t.Context(), gone.SID, storage.DeleteOptions{})
		wantKind(t, "second DeleteCall", err, storage.ErrNotFound)
		page, err := s.ListCalls(t.Context(), storage.CallFilter{})
		if err != nil {
			t.Fatalf("ListCalls: %v", err)
		}
		if len(page.Calls) != 1 || page.Calls[0].SID != kept.SID {
			t.Errorf("ListCalls = %+v, want only %s", page.Calls, kept.SID)
		}
		for _, w := range drain(t, s, claimAt) {
			if w.CallSID != kept.SID {
				t.Errorf("claimed %+v of the deleted call", w)
			}
		}
		// The other call is untouched and still writable.
		mustAddTurn(t, s, storage.Turn{CallSID: kept.SID, Number: 1, Role: storage.RoleCaller, Text: "Hi", CreatedAt: t0})
		if c := mustGetCall(t, s, kept.SID); len(c.Turns) != 2 || len(c.Recordings) != 1 {
			t.Errorf("the other call is %+v", c)
		}
	})

	t.Run("CallsNeverSeenAreNotGone", func(t *testing.T) {
		s := newStore(t)
		endedCall(t, s, 1)
		mustDelete(t, s, callSID(1))
		_, _, err := s.AddTurn(t.Context(), storage.Turn{CallSID: callSID(2), Number: 1, Role: storage.RoleCaller, Text: "Hi", CreatedAt: t0})
		wantKind(t, "AddTurn", err, storage.ErrNotFound)
		if _, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: callSID(2)}, storage.StatusEvent{Status: storage.StatusCompleted, At: t0}); err != nil {
			t.Errorf("ApplyStatus of a call never seen: %v", err)
		}
		if _, _, err := s.AddRecording(t.Context(), newRecording(3, 3)); err != nil {
			t.Errorf("AddRecording of a call never seen: %v", err)
		}
	})

	t.Run("ErrConflictWhileTheCallIsLive", func(t *testing.T) {
		for _, st := range []storage.CallStatus{storage.StatusQueued, storage.StatusRinging, storage.StatusInProgress} {
			t.Run(string(st), func(t *testing.T) {
				s := newStore(t)
				nc := newCall(1, t0)
				nc.Status = st
				mustUpsert(t, s, nc)
				mustAddRecording(t, s, newRecording(1, 1))
				before := mustGetCall(t, s, nc.SID)

				_, err := s.DeleteCall(t.Context(), nc.SID, storage.DeleteOptions{})
				wantKind(t, "DeleteCall", err, storage.ErrConflict)
				if msg := storage.Message(err); !strings.Contains(msg, string(st)) {
					t.Errorf("DeleteCall error %q does not name the status %s", msg, st)
				}
				if diff := cmp.Diff(before, mustGetCall(t, s, nc.SID)); diff != "" {
					t.Errorf("refused DeleteCall changed the call (-before +after):\n%s", diff)
				}
				// No tombstone: the call carries on, and once it ended it can go.
				mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 3})
				mustAddTurn(t, s, storage.Turn{CallSID: nc.SID, Number: 0, Role: storage.RoleAssistant, Text: "Hello!", CreatedAt: t0})
				if got := mustDelete(t, s, nc.SID); len(got) != 1 {
					t.Errorf("DeleteCall after the call ended returned %d recordings, want 1", len(got))
				}
			})
		}
	})

	t.Run("ReturnsEveryRecording", func(t *testing.T) {
		s := newStore(t)
		nc := endedCall(t, s, 1) // recording 1 stays pending
		mustAddRecording(t, s, newRecording(2, 1))
		failed := newRecording(3, 1)
		failed.State, failed.LastError = storage.RecordingFailed, "Twilio reported the recording absent"
		mustAddRecording(t, s, failed)
		var stored bool
		for _, w := range drain(t, s, claimAt) {
			if w.Kind == storage.WorkArchiveRecording && w.RecordingSID == recordingSID(2) {
				blob := storage.StoredBlob{Key: "recordings/x/" + w.RecordingSID + ".wav", Size: 10, SHA256: strings.Repeat("0", 64), ContentType: "audio/wav"}
				if err := s.CompleteRecording(t.Context(), w, blob, false); err != nil {
					t.Fatalf("CompleteRecording: %v", err)
				}
				stored = true
			}
		}
		if !stored {
			t.Fatal("no archive work for recording 2")
		}
		want := mustGetCall(t, s, nc.SID).Recordings
		got := mustDelete(t, s, nc.SID)
		if diff := cmp.Diff(want, got, recordingsBySID); diff != "" {
			t.Errorf("DeleteCall returned (-want +got):\n%s", diff)
		}
		states := map[storage.RecordingState]int{}
		for _, r := range got {
			states[r.State]++
		}
		if states[storage.RecordingPending] != 1 || states[storage.RecordingStored] != 1 || states[storage.RecordingFailed] != 1 {
			t.Errorf("DeleteCall returned recordings in states %v, want one pending, one stored, one failed", states)
		}
	})

	t.Run("PurgeTombstones", func(t *testing.T) {
		s := newStore(t)
		for n := 1; n <= 3; n++ {
			endedCall(t, s, n)
		}
		_, err := s.PurgeTombstones(t.Context(), claimAt, 0)
		wantKind(t, "PurgeTombstones with limit 0", err, storage.ErrInvalid)

		// Deletion times come from the store's clock; mid falls between
		// the first deletion and the other two.
		mustDelete(t, s, callSID(1))
		time.Sleep(5 * time.Millisecond)
		mid := time.Now()
		time.Sleep(5 * time.Millisecond)
		mustDelete(t, s, callSID(2))
		mustDelete(t, s, callSID(3))
		finishPurges(t, s)

		if n, err := s.PurgeTombstones(t.Context(), time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
			t.Fatalf("PurgeTombstones before any deletion = %d, %v; want 0", n, err)
		}
		if n, err := s.PurgeTombstones(t.Context(), mid, 10); err != nil || n != 1 {
			t.Fatalf("PurgeTombstones(mid) = %d, %v; want 1", n, err)
		}
		// The purged SID is unknown again and may be created afresh.
		if _, err := s.GetCall(t.Context(), callSID(1)); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetCall after the tombstone was purged = %v, want ErrNotFound", err)
		}
		again := newCall(1, t0.Add(time.Hour))
		if diff := cmp.Diff(createdCall(again), mustUpsert(t, s, again), ignoreUpdatedAt); diff != "" {
			t.Errorf("call created again after purge (-want +got):\n%s", diff)
		}
		wantKind(t, "UpsertCall of a call deleted after mid", upsertErr(t, s, newCall(2, t0)), storage.ErrGone)

		// Bounded batches.
		if n, err := s.PurgeTombstones(t.Context(), claimAt, 1); err != nil || n != 1 {
			t.Fatalf("PurgeTombstones(limit 1) = %d, %v; want 1", n, err)
		}
		if n, err := s.PurgeTombstones(t.Context(), claimAt, 10); err != nil || n != 1 {
			t.Fatalf("PurgeTombstones = %d, %v; want the last 1", n, err)
		}
		if n, err := s.PurgeTombstones(t.Context(), claimAt, 10); err != nil || n != 0 {
			t.Fatalf("PurgeTombstones with none left = %d, %v; want 0", n, err)
		}
		mustUpsert(t, s, newCall(2, t0))
		mustUpsert(t, s, newCall(3, t0))
	})

	t.Run("WritesRacingTheDeleteStoreNothing", func(t *testing.T) {
		s := newStore(t)
		const calls = 12
		for n := 1; n <= calls; n++ {
			endedCall(t, s, n)
		}
		acceptable := func(what string, err error) {
			if err != nil && !errors.Is(err, storage.ErrGone) && !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: %v, want success, ErrGone or ErrNotFound", what, err)
			}
		}
		deleted := make([]bool, calls+1)
		var wg sync.WaitGroup
		for n := 1; n <= calls; n++ {
			wg.Go(func() {
				_, err := s.DeleteCall(t.Context(), callSID(n), storage.DeleteOptions{})
				if err != nil {
					t.Errorf("DeleteCall(%d): %v", n, err)
				}
				deleted[n] = err == nil
			})
			wg.Go(func() {
				_, _, err := s.StartCall(t.Context(), newCall(n, t0), storage.Turn{})
				acceptable("StartCall", err)
			})
			wg.Go(func() {
				_, _, err := s.AddRecording(t.Context(), newRecording(100+n, n))
				acceptable("AddRecording", err)
			})
			wg.Go(func() {
				_, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: callSID(n)}, storage.StatusEvent{Status: storage.StatusCanceled, At: t0.Add(time.Hour), Sequence: 5})
				acceptable("ApplyStatus", err)
			})
		}
		wg.Wait()
		for n := 1; n <= calls; n++ {
			if !deleted[n] {
				continue
			}
			if _, err := s.GetCall(t.Context(), callSID(n)); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("call %d after its delete: GetCall = %v, want ErrNotFound", n, err)
			}
		}
		if w := drain(t, s, claimAt); len(w) != 0 {
			t.Errorf("%d work items left for deleted calls: %+v", len(w), w)
		}
	})
}
