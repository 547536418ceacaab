package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchboard/storage"
)

// ignorePurgeIdentity leaves out what the store makes up: the lease token
// (checked apart) and the expiry time (the store's clock).
var ignorePurgeIdentity = cmpopts.IgnoreFields(storage.Purge{}, "Lease", "ExpiredAt")

func mustExpire(t *testing.T, s storage.Store, before time.Time, limit int, o storage.DeleteOptions) int {
	t.Helper()
	n, err := s.ExpireCalls(t.Context(), before, limit, o)
	if err != nil {
		t.Fatalf("ExpireCalls(%v, %d): %v", before, limit, err)
	}
	return n
}

func mustClaimPurge(t *testing.T, s storage.Store, now time.Time) storage.Purge {
	t.Helper()
	p, ok, err := s.ClaimPurge(t.Context(), now, lease)
	if err != nil {
		t.Fatalf("ClaimPurge(%v): %v", now, err)
	}
	if !ok {
		t.Fatalf("ClaimPurge(%v): nothing due, want a purge", now)
	}
	if p.Lease == "" {
		t.Fatalf("ClaimPurge(%v) returned %s's purge without a lease", now, p.CallSID)
	}
	return p
}

func mustNoPurge(t *testing.T, s storage.Store, now time.Time) {
	t.Helper()
	p, ok, err := s.ClaimPurge(t.Context(), now, lease)
	if err != nil {
		t.Fatalf("ClaimPurge(%v): %v", now, err)
	}
	if ok {
		t.Fatalf("ClaimPurge(%v) claimed %+v, want nothing due", now, p)
	}
}

// finishPurges claims and finishes every purge due at claimAt, as the
// workers do once the audio is deleted, so that tests of tombstones see
// only what they are about.
func finishPurges(t *testing.T, s storage.Store) {
	t.Helper()
	for {
		p, ok, err := s.ClaimPurge(t.Context(), claimAt, lease)
		if err != nil {
			t.Fatalf("ClaimPurge: %v", err)
		}
		if !ok {
			return
		}
		if err := s.FinishPurge(t.Context(), p); err != nil {
			t.Fatalf("FinishPurge(%s): %v", p.CallSID, err)
		}
	}
}

// purgeOf is the purge expiring endedCall n records, as claimed at now.
func purgeOf(n, attempts int, lastErr string, now time.Time) storage.Purge {
	keys := storage.BlobKeys([]storage.Recording{newRecording(n, n)})
	return storage.Purge{CallSID: callSID(n), Keys: keys,
		Media:    []storage.MediaRef{{AccountSID: accountSID, RecordingSID: recordingSID(n)}},
		Attempts: attempts, LastError: lastErr, LeaseUntil: now.Add(lease)}
}

func testRetention(t *testing.T, newStore newStoreFunc) {
	t.Run("OldCallsOnly", func(t *testing.T) {
		s := newStore(t)
		for n := 1; n <= 5; n++ {
			endedCall(t, s, n)
		}
		// A call that never ended (its last callbacks were lost) expires
		// like any other.
		mustUpsert(t, s, newCall(0, t0))
		// endedCall n is created at t0+n s: 0 to 3 are older than this.
		before := t0.Add(3500 * time.Millisecond)
		if n := mustExpire(t, s, before, 100, storage.DeleteOptions{}); n != 4 {
			t.Fatalf("ExpireCalls expired %d calls, want 4", n)
		}
		for n := 0; n <= 5; n++ {
			_, err := s.GetCall(t.Context(), callSID(n))
			if gone := errors.Is(err, storage.ErrNotFound); gone != (n <= 3) {
				t.Errorf("GetCall(%d) after expiry: %v", n, err)
			}
		}
		page, err := s.ListCalls(t.Context(), storage.CallFilter{Limit: 100})
		if err != nil || len(page.Calls) != 2 {
			t.Fatalf("ListCalls after expiry: %d calls, %v; want 4 and 5", len(page.Calls), err)
		}
		if n := mustExpire(t, s, before, 100, storage.DeleteOptions{}); n != 0 {
			t.Errorf("ExpireCalls again expired %d, want 0", n)
		}
	})

	t.Run("LateWebhooksStoreNothing", func(t *testing.T) {
		s := newStore(t)
		nc := endedCall(t, s, 1)
		mustExpire(t, s, t0.Add(time.Hour), 10, storage.DeleteOptions{})
		if _, err := s.ApplyStatus(t.Context(), nc, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(2 * time.Minute), Sequence: 3}); !errors.Is(err, storage.ErrGone) {
			t.Errorf("ApplyStatus of an expired call: %v, want ErrGone", err)
		}
		if _, _, err := s.AddRecording(t.Context(), newRecording(9, 1)); !errors.Is(err, storage.ErrGone) {
			t.Errorf("AddRecording of an expired call: %v, want ErrGone", err)
		}
		if _, _, err := s.StartCall(t.Context(), nc, storage.Turn{Role: storage.RoleAssistant, Text: "Hello!"}); !errors.Is(err, storage.ErrGone) {
			t.Errorf("StartCall of an expired call: %v, want ErrGone", err)
		}
		if _, err := s.GetCall(t.Context(), nc.SID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetCall after late webhooks: %v, want ErrNotFound", err)
		}
	})

	t.Run("BoundedBatches", func(t *testing.T) {
		s := newStore(t)
		for n := 1; n <= 7; n++ {
			mustUpsert(t, s, newCall(n, t0.Add(time.Duration(n)*time.Second)))
		}
		var got []int
		for {
			n := mustExpire(t, s, t0.Add(time.Hour), 3, storage.DeleteOptions{})
			got = append(got, n)
			if n < 3 {
				break
			}
		}
		if diff := cmp.Diff([]int{3, 3, 1}, got); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
	})

	t.Run("PurgeRecordedAndTombstoneKept", func(t *testing.T) {
		s := newStore(t)
		endedCall(t, s, 1)
		mustUpsert(t, s, newCall(2, t0.Add(2*time.Second))) // no recording: nothing to purge
		mustExpire(t, s, t0.Add(time.Hour), 10, storage.DeleteOptions{})
		p := mustClaimPurge(t, s, claimAt)
		if diff := cmp.Diff(purgeOf(1, 1, "", claimAt), p, ignorePurgeIdentity); diff != "" {
			t.Errorf("purge (-want +got):\n%s", diff)
		}
		mustNoPurge(t, s, claimAt)
		// The tombstone stays while the purge is pending, however old.
		if n, err := s.PurgeTombstones(t.Context(), claimAt.Add(1000*time.Hour), 100); err != nil || n != 1 {
			t.Errorf("PurgeTombstones while call 1's purge is pending: %d, %v; want call 2's alone", n, err)
		}
		if _, err := s.ApplyStatus(t.Context(), newCall(1, t0), storage.StatusEvent{Status: storage.StatusCompleted, At: t0, Sequence: 9}); !errors.Is(err, storage.ErrGone) {
			t.Errorf("ApplyStatus while the purge is pending: %v, want ErrGone", err)
		}
		if err := s.FinishPurge(t.Context(), p); err != nil {
			t.Fatalf("FinishPurge: %v", err)
		}
		mustNoPurge(t, s, claimAt.Add(time.Hour))
		if n, err := s.PurgeTombstones(t.Context(), claimAt.Add(1000*time.Hour), 100); err != nil || n != 1 {
			t.Errorf("PurgeTombstones after the purge: %d, %v; want call 1's", n, err)
		}
	})

	t.Run("DeleteCallRecordsThePurge", func(t *testing.T) {
		// A call deleted through the API hands its audio to the same
		// purge: every key of every recording, whatever its state (a
		// pending one may have an object already), and every recording's
		// media at Twilio.
		s := newStore(t)
		nc := endedCall(t, s, 1) // recording 1 stays pending
		failed := newRecording(4, 1)
		failed.State, failed.LastError = storage.RecordingFailed, "Twilio reported the recording absent"
		mustAddRecording(t, s, failed)
		nothing := newCall(2, t0.Add(2*time.Second)) // no recording: nothing to purge
		mustUpsert(t, s, nothing)
		mustApply(t, s, nothing.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2})
		mustUpsert(t, s, newCall(3, t0)) // live: refused, nothing recorded
		mustAddRecording(t, s, newRecording(3, 3))

		before := time.Now().Truncate(time.Microsecond)
		recs := mustDelete(t, s, nc.SID)
		after := time.Now()
		mustDelete(t, s, nothing.SID)
		_, err := s.DeleteCall(t.Context(), callSID(3), storage.DeleteOptions{})
		wantKind(t, "DeleteCall of a live call", err, storage.ErrConflict)

		p := mustClaimPurge(t, s, claimAt)
		want := storage.Purge{CallSID: nc.SID, Keys: storage.BlobKeys(recs), Media: storage.MediaOf(recs), Attempts: 1, LeaseUntil: claimAt.Add(lease)}
		if len(want.Keys) != 2 || len(want.Media) != 2 {
			t.Fatalf("deleted call's recordings %+v: want two keys and two media", recs)
		}
		sortedMedia := cmpopts.SortSlices(func(a, b storage.MediaRef) bool { return a.RecordingSID < b.RecordingSID })
		if diff := cmp.Diff(want, p, ignorePurgeIdentity, sortedKeys, sortedMedia); diff != "" {
			t.Errorf("purge of the deleted call (-want +got):\n%s", diff)
		}
		if p.ExpiredAt.Before(before) || p.ExpiredAt.After(after) {
			t.Errorf("purge ExpiredAt = %v, want the deletion time, between %v and %v", p.ExpiredAt, before, after)
		}
		mustNoPurge(t, s, claimAt) // none for the call without recordings, nor the live one
		// The tombstone outlives the call's rows until its audio is gone.
		if n, err := s.PurgeTombstones(t.Context(), claimAt.Add(1000*time.Hour), 100); err != nil || n != 1 {
			t.Errorf("PurgeTombstones while the purge is pending: %d, %v; want call 2's alone", n, err)
		}
		wantKind(t, "UpsertCall while the purge is pending", upsertErr(t, s, nc), storage.ErrGone)
		if err := s.FinishPurge(t.Context(), p); err != nil {
			t.Fatalf("FinishPurge: %v", err)
		}
		if n, err := s.PurgeTombstones(t.Context(), claimAt.Add(1000*time.Hour), 100); err != nil || n != 1 {
			t.Errorf("PurgeTombstones after the purge: %d, %v; want call 1's", n, err)
		}
	})

	t.Run("DeleteCallPurgeWaitsForAnArchiveInFlight", func(t *testing.T) {
		// A worker holds the archive of the call's recording, so its upload
		// may land after a purge run at once; the purge is due when that
		// lease ends, when the upload is over either way.
		s := newStore(t)
		nc := endedCall(t, s, 1)
		var archive storage.Work
		for _, w := range drain(t, s, claimAt) {
			if w.Kind == storage.WorkArchiveRecording {
				archive = w
			}
		}
		if archive.Lease == "" {
			t.Fatal("no archive work claimed for the call's recording")
		}
		mustDelete(t, s, nc.SID)
		mustNoPurge(t, s, archive.LeaseUntil.Add(-time.Second))
		p := mustClaimPurge(t, s, archive.LeaseUntil)
		if p.CallSID != nc.SID || len(p.Keys) != 1 {
			t.Errorf("purge after the archive's lease: %+v", p)
		}

		// An archive whose lease already ended holds nothing back.
		s = newStore(t)
		nc = endedCall(t, s, 1)
		drain(t, s, time.Now().Add(-2*lease))
		mustDelete(t, s, nc.SID)
		mustClaimPurge(t, s, time.Now())
	})

	t.Run("ReplicaErasure", func(t *testing.T) {
		s := newStore(t)
		endedCall(t, s, 1)
		mustExpire(t, s, t0.Add(time.Hour), 10, erase)
		e := mustClaimErasure(t, s, claimAt)
		if e.CallSID != callSID(1) || e.Bucket != replicaBucket || len(e.Keys) == 0 {
			t.Errorf("replica erasure of the expired call: %+v", e)
		}
	})

	t.Run("LeaseFailRelease", func(t *testing.T) {
		s := newStore(t)
		endedCall(t, s, 1)
		mustExpire(t, s, t0.Add(time.Hour), 10, storage.DeleteOptions{})
		p := mustClaimPurge(t, s, claimAt)
		// A worker that died holding it: claimable again once its lease ends.
		mustNoPurge(t, s, claimAt.Add(lease-time.Second))
		again := mustClaimPurge(t, s, claimAt.Add(lease))
		if again.Attempts != 2 || again.Lease == p.Lease {
			t.Errorf("reclaimed purge: attempts %d, same lease %v", again.Attempts, again.Lease == p.Lease)
		}
		if err := s.FinishPurge(t.Context(), p); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("FinishPurge with a stale lease: %v, want ErrConflict", err)
		}
		retry := claimAt.Add(time.Hour)
		if err := s.FailPurge(t.Context(), again, "bucket unreachable", retry); err != nil {
			t.Fatalf("FailPurge: %v", err)
		}
		mustNoPurge(t, s, retry.Add(-time.Second))
		p = mustClaimPurge(t, s, retry)
		if diff := cmp.Diff(purgeOf(1, 3, "bucket unreachable", retry), p, ignorePurgeIdentity); diff != "" {
			t.Errorf("purge after a failure (-want +got):\n%s", diff)
		}
		if err := s.ReleasePurge(t.Context(), p); err != nil {
			t.Fatalf("ReleasePurge: %v", err)
		}
		if p = mustClaimPurge(t, s, retry); p.Attempts != 3 {
			t.Errorf("attempts after a release: %d, want 3 (the released one uncounted)", p.Attempts)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.ExpireCalls(t.Context(), t0, 0, storage.DeleteOptions{}); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("ExpireCalls limit 0: %v", err)
		}
		if _, _, err := s.ClaimPurge(t.Context(), t0, 0); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("ClaimPurge lease 0: %v", err)
		}
	})
}
