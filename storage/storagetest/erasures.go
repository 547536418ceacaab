package storagetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchboard/storage"
)

// replicaBucket is the suite's replica bucket, and erase DeleteCall's
// option that records an erasure there.
const replicaBucket = "recordings-replica"

var erase = storage.DeleteOptions{ReplicaBucket: replicaBucket}

// recheck is the suite's delay before an erasure's second pass.
const recheck = 15 * time.Minute

// Erasures are compared without their lease token (checked apart) and
// their deletion time (the store's clock); keys in any order.
var (
	ignoreErasureIdentity = cmpopts.IgnoreFields(storage.Erasure{}, "Lease", "DeletedAt")
	sortedKeys            = cmpopts.SortSlices(func(a, b string) bool { return a < b })
)

// mustClaimErasure claims the next due erasure at now and fails when there
// is none.
func mustClaimErasure(t *testing.T, s storage.Store, now time.Time) storage.Erasure {
	t.Helper()
	e, ok, err := s.ClaimErasure(t.Context(), now, lease)
	if err != nil {
		t.Fatalf("ClaimErasure(%v): %v", now, err)
	}
	if !ok {
		t.Fatalf("ClaimErasure(%v): nothing due, want an erasure", now)
	}
	if e.Lease == "" {
		t.Fatalf("ClaimErasure(%v) returned %s's erasure without a lease", now, e.CallSID)
	}
	return e
}

// mustNoErasure fails when an erasure is due at now.
func mustNoErasure(t *testing.T, s storage.Store, now time.Time) {
	t.Helper()
	e, ok, err := s.ClaimErasure(t.Context(), now, lease)
	if err != nil {
		t.Fatalf("ClaimErasure(%v): %v", now, err)
	}
	if ok {
		t.Fatalf("ClaimErasure(%v) claimed %+v, want nothing due", now, e)
	}
}

// wantBacklog fails unless the store counts want.
func wantBacklog(t *testing.T, s storage.Store, want storage.ErasureBacklog) {
	t.Helper()
	got, err := s.ErasureBacklog(t.Context())
	if err != nil {
		t.Fatalf("ErasureBacklog: %v", err)
	}
	if got != want {
		t.Fatalf("ErasureBacklog = %+v, want %+v", got, want)
	}
}

// mustFinishPass finishes e's pass, the next one due at next.
func mustFinishPass(t *testing.T, s storage.Store, e storage.Erasure, next time.Time) {
	t.Helper()
	if err := s.FinishErasurePass(t.Context(), e, next); err != nil {
		t.Fatalf("FinishErasurePass(%s pass %d): %v", e.CallSID, e.Pass, err)
	}
}

// pending is an erasure of call n as freshly claimed in pass pass at now.
func pending(n int, keys []string, pass, attempts int, lastErr string, now time.Time) storage.Erasure {
	return storage.Erasure{CallSID: callSID(n), Bucket: replicaBucket, Keys: keys, Pass: pass, Attempts: attempts, LastError: lastErr, LeaseUntil: now.Add(lease)}
}

// erasedCall is endedCall n deleted with a replica erasure; it returns the
// keys of the erasure.
func erasedCall(t *testing.T, s storage.Store, n int) []string {
	t.Helper()
	endedCall(t, s, n)
	recs, err := s.DeleteCall(t.Context(), callSID(n), erase)
	if err != nil {
		t.Fatalf("DeleteCall(%d): %v", n, err)
	}
	keys := storage.BlobKeys(recs)
	if len(keys) == 0 {
		t.Fatalf("call %d had no recording keys to erase", n)
	}
	return keys
}

func testErasures(t *testing.T, newStore newStoreFunc) {
	t.Run("RecordedWithTheDelete", func(t *testing.T) {
		s := newStore(t)
		nc := endedCall(t, s, 1) // recording 1 stays pending
		endedCall(t, s, 2)
		mustAddRecording(t, s, newRecording(3, 1))
		failed := newRecording(4, 1)
		failed.State, failed.LastError = storage.RecordingFailed, "Twilio reported the recording absent"
		mustAddRecording(t, s, failed)
		// Recording 3 was stored under a key other than its ArchiveKey:
		// both are erased.
		for _, w := range drain(t, s, claimAt) {
			if w.Kind == storage.WorkArchiveRecording && w.RecordingSID == recordingSID(3) {
				blob := storage.StoredBlob{Key: "recordings/moved/" + w.RecordingSID + ".wav", Size: 10, SHA256: strings.Repeat("0", 64), ContentType: "audio/wav"}
				if err := s.CompleteRecording(t.Context(), w, blob, false); err != nil {
					t.Fatalf("CompleteRecording: %v", err)
				}
			}
		}
		mustNoErasure(t, s, claimAt)

		before := time.Now().Truncate(time.Microsecond)
		recs, err := s.DeleteCall(t.Context(), nc.SID, erase)
		if err != nil {
			t.Fatalf("DeleteCall: %v", err)
		}
		after := time.Now()
		var want []string
		for _, r := range recs {
			want = append(want, r.ArchiveKey())
			if r.SID == recordingSID(3) {
				want = append(want, "recordings/moved/"+r.SID+".wav")
			}
		}
		if len(want) != 4 {
			t.Fatalf("DeleteCall returned %d recordings, want 3", len(recs))
		}
		wantBacklog(t, s, storage.ErasureBacklog{Pending: 1})

		e := mustClaimErasure(t, s, claimAt)
		if diff := cmp.Diff(pending(1, want, 1, 1, "", claimAt), e, ignoreErasureIdentity, sortedKeys); diff != "" {
			t.Errorf("claimed erasure (-want +got):\n%s", diff)
		}
		if e.DeletedAt.Before(before) || e.DeletedAt.After(after) {
			t.Errorf("erasure DeletedAt = %v, want between %v and %v", e.DeletedAt, before, after)
		}
		// Held: nobody else gets it, and nothing else is due.
		mustNoErasure(t, s, claimAt)

		// The claim is the caller's own copy.
		e.Keys[0] = "recordings/edited.wav"
		if err := s.ReleaseErasure(t.Context(), e); err != nil {
			t.Fatalf("ReleaseErasure: %v", err)
		}
		again := mustClaimErasure(t, s, claimAt)
		if diff := cmp.Diff(pending(1, want, 1, 1, "", claimAt), again, ignoreErasureIdentity, sortedKeys); diff != "" {
			t.Errorf("erasure claimed after a release (-want +got):\n%s", diff)
		}
	})

	t.Run("NothingRecorded", func(t *testing.T) {
		t.Run("WithoutReplicaBucket", func(t *testing.T) {
			s := newStore(t)
			endedCall(t, s, 1)
			mustDelete(t, s, callSID(1))
			mustNoErasure(t, s, claimAt.Add(100*recheck))
			wantBacklog(t, s, storage.ErasureBacklog{})
		})
		t.Run("CallWithoutRecordings", func(t *testing.T) {
			s := newStore(t)
			nc := newCall(1, t0)
			mustUpsert(t, s, nc)
			mustApply(t, s, nc.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: 2})
			if _, err := s.DeleteCall(t.Context(), nc.SID, erase); err != nil {
				t.Fatalf("DeleteCall: %v", err)
			}
			mustNoErasure(t, s, claimAt)
			wantBacklog(t, s, storage.ErasureBacklog{})
		})
		t.Run("DeleteRefused", func(t *testing.T) {
			s := newStore(t)
			mustUpsert(t, s, newCall(1, t0)) // ringing
			mustAddRecording(t, s, newRecording(1, 1))
			_, err := s.DeleteCall(t.Context(), callSID(1), erase)
			wantKind(t, "DeleteCall of a live call", err, storage.ErrConflict)
			_, err = s.DeleteCall(t.Context(), callSID(2), erase)
			wantKind(t, "DeleteCall of a missing call", err, storage.ErrNotFound)
			mustNoErasure(t, s, claimAt)
			wantBacklog(t, s, storage.ErasureBacklog{})
		})
	})

	t.Run("TwoPasses", func(t *testing.T) {
		s := newStore(t)
		keys := erasedCall(t, s, 1)
		first := mustClaimErasure(t, s, claimAt)
		if first.Pass != 1 {
			t.Fatalf("first claim runs pass %d, want 1", first.Pass)
		}
		next := claimAt.Add(recheck)
		mustFinishPass(t, s, first, next)
		wantBacklog(t, s, storage.ErasureBacklog{Pending: 1})
		// Finishing is done with that lease.
		wantKind(t, "FinishErasurePass with a finished lease", s.FinishErasurePass(t.Context(), first, next), storage.ErrConflict)

		mustNoErasure(t, s, next.Add(-time.Microsecond))
		second := mustClaimErasure(t, s, next)
		if diff := cmp.Diff(pending(1, keys, 2, 1, "", next), second, ignoreErasureIdentity, sortedKeys); diff != "" {
			t.Errorf("second pass (-want +got):\n%s", diff)
		}
		if !second.DeletedAt.Equal(first.DeletedAt) {
			t.Errorf("second pass DeletedAt = %v, first %v", second.DeletedAt, first.DeletedAt)
		}
		mustFinishPass(t, s, second, next.Add(recheck))
		mustNoErasure(t, s, claimAt.Add(1000*recheck))
		wantBacklog(t, s, storage.ErasureBacklog{})
		wantKind(t, "FinishErasurePass of a finished erasure", s.FinishErasurePass(t.Context(), second, next), storage.ErrConflict)
	})

	t.Run("FailedAttemptsRetry", func(t *testing.T) {
		s := newStore(t)
		keys := erasedCall(t, s, 1)
		e := mustClaimErasure(t, s, claimAt)
		retryAt := claimAt.Add(time.Minute)
		if err := s.FailErasure(t.Context(), e, "replica: SlowDown", retryAt); err != nil {
			t.Fatalf("FailErasure: %v", err)
		}
		wantBacklog(t, s, storage.ErasureBacklog{Pending: 1, Failing: 1})
		wantKind(t, "FailErasure with a given-back lease", s.FailErasure(t.Context(), e, "again", retryAt), storage.ErrConflict)

		mustNoErasure(t, s, retryAt.Add(-time.Microsecond))
		e = mustClaimErasure(t, s, retryAt)
		if diff := cmp.Diff(pending(1, keys, 1, 2, "replica: SlowDown", retryAt), e, ignoreErasureIdentity, sortedKeys); diff != "" {
			t.Errorf("retried erasure (-want +got):\n%s", diff)
		}
		// The pass that finishes clears the error and starts the next
		// pass's attempts afresh.
		next := retryAt.Add(recheck)
		mustFinishPass(t, s, e, next)
		wantBacklog(t, s, storage.ErasureBacklog{Pending: 1})
		e = mustClaimErasure(t, s, next)
		if diff := cmp.Diff(pending(1, keys, 2, 1, "", next), e, ignoreErasureIdentity, sortedKeys); diff != "" {
			t.Errorf("second pass after a failed first attempt (-want +got):\n%s", diff)
		}
		if err := s.FailErasure(t.Context(), e, "replica unreachable", next.Add(time.Hour)); err != nil {
			t.Fatalf("FailErasure: %v", err)
		}
		e = mustClaimErasure(t, s, next.Add(time.Hour))
		if e.Pass != 2 || e.Attempts != 2 || e.LastError != "replica unreachable" {
			t.Errorf("retried second pass = pass %d, attempt %d, last error %q; want 2, 2, %q", e.Pass, e.Attempts, e.LastError, "replica unreachable")
		}
	})

	t.Run("StaleLease", func(t *testing.T) {
		s := newStore(t)
		erasedCall(t, s, 1)
		stale := mustClaimErasure(t, s, claimAt)
		mustNoErasure(t, s, claimAt.Add(lease-time.Microsecond))
		// The lease expired: another worker takes the erasure over.
		owner := mustClaimErasure(t, s, claimAt.Add(lease))
		if owner.Lease == stale.Lease || owner.Attempts != 2 {
			t.Fatalf("claim after the lease expired = %+v, want a new lease and attempt 2", owner)
		}
		wantKind(t, "FinishErasurePass with a stale lease", s.FinishErasurePass(t.Context(), stale, claimAt), storage.ErrConflict)
		wantKind(t, "FailErasure with a stale lease", s.FailErasure(t.Context(), stale, "x", claimAt), storage.ErrConflict)
		wantKind(t, "ReleaseErasure with a stale lease", s.ReleaseErasure(t.Context(), stale), storage.ErrConflict)
		wantKind(t, "ReleaseErasure without a lease", s.ReleaseErasure(t.Context(), storage.Erasure{CallSID: callSID(1)}), storage.ErrConflict)
		mustFinishPass(t, s, owner, claimAt)
		if e := mustClaimErasure(t, s, claimAt.Add(lease)); e.Pass != 2 {
			t.Errorf("after the owner finished pass 1 the claim runs pass %d, want 2", e.Pass)
		}
	})

	t.Run("ReleaseDoesNotCount", func(t *testing.T) {
		s := newStore(t)
		erasedCall(t, s, 1)
		e := mustClaimErasure(t, s, claimAt)
		if err := s.FailErasure(t.Context(), e, "timeout", claimAt); err != nil {
			t.Fatal(err)
		}
		e = mustClaimErasure(t, s, claimAt)
		if err := s.ReleaseErasure(t.Context(), e); err != nil {
			t.Fatalf("ReleaseErasure: %v", err)
		}
		e = mustClaimErasure(t, s, claimAt)
		if e.Attempts != 2 || e.LastError != "timeout" {
			t.Errorf("claim after a release = attempt %d, last error %q; want 2, %q", e.Attempts, e.LastError, "timeout")
		}
	})

	t.Run("OldestDeletionFirst", func(t *testing.T) {
		s := newStore(t)
		for n := 1; n <= 3; n++ {
			erasedCall(t, s, n)
			time.Sleep(2 * time.Millisecond) // deletion times come from the store's clock
		}
		var order []string
		for range 3 {
			order = append(order, mustClaimErasure(t, s, claimAt).CallSID)
		}
		if want := []string{callSID(1), callSID(2), callSID(3)}; !slices.Equal(order, want) {
			t.Errorf("claim order %v, want %v", order, want)
		}
		wantBacklog(t, s, storage.ErasureBacklog{Pending: 3})
	})

	t.Run("EachKeepsItsBucket", func(t *testing.T) {
		// A failover swaps which bucket is the replica; an erasure recorded
		// before it still names the bucket it was meant for.
		s := newStore(t)
		erasedCall(t, s, 1)
		endedCall(t, s, 2)
		if _, err := s.DeleteCall(t.Context(), callSID(2), storage.DeleteOptions{ReplicaBucket: "recordings-main"}); err != nil {
			t.Fatalf("DeleteCall: %v", err)
		}
		got := map[string]string{}
		for range 2 {
			e := mustClaimErasure(t, s, claimAt)
			got[e.CallSID] = e.Bucket
		}
		if want := map[string]string{callSID(1): replicaBucket, callSID(2): "recordings-main"}; !cmp.Equal(want, got) {
			t.Errorf("erasure buckets %v, want %v", got, want)
		}
	})

	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		s := newStore(t)
		const calls = 5
		for n := 1; n <= calls; n++ {
			erasedCall(t, s, n)
		}
		var mu sync.Mutex
		got := map[string]int{}
		concurrently(3*calls, func(int) {
			e, ok, err := s.ClaimErasure(t.Context(), claimAt, lease)
			if err != nil {
				t.Errorf("ClaimErasure: %v", err)
				return
			}
			if ok {
				mu.Lock()
				got[e.CallSID]++
				mu.Unlock()
			}
		})
		if len(got) != calls {
			t.Errorf("%d erasures claimed, want %d: %v", len(got), calls, got)
		}
		for sid, n := range got {
			if n != 1 {
				t.Errorf("the erasure of %s was claimed %d times at once", sid, n)
			}
		}
	})

	t.Run("TombstoneKeptWhilePending", func(t *testing.T) {
		s := newStore(t)
		erasedCall(t, s, 1)
		endedCall(t, s, 2)
		mustDelete(t, s, callSID(2)) // no erasure
		finishPurges(t, s)           // the main bucket's audio is gone
		purgeAll := claimAt.Add(1000 * recheck)
		if n, err := s.PurgeTombstones(t.Context(), purgeAll, 10); err != nil || n != 1 {
			t.Fatalf("PurgeTombstones = %d, %v; want 1 (only the call without an erasure)", n, err)
		}
		wantKind(t, "UpsertCall of a call whose erasure is pending", upsertErr(t, s, newCall(1, t0)), storage.ErrGone)
		mustUpsert(t, s, newCall(2, t0))

		// One pass done is not enough.
		mustFinishPass(t, s, mustClaimErasure(t, s, claimAt), claimAt.Add(recheck))
		if n, err := s.PurgeTombstones(t.Context(), purgeAll, 10); err != nil || n != 0 {
			t.Fatalf("PurgeTombstones between the passes = %d, %v; want 0", n, err)
		}
		mustFinishPass(t, s, mustClaimErasure(t, s, claimAt.Add(recheck)), claimAt)
		if n, err := s.PurgeTombstones(t.Context(), purgeAll, 10); err != nil || n != 1 {
			t.Fatalf("PurgeTombstones after the erasure = %d, %v; want 1", n, err)
		}
		mustUpsert(t, s, newCall(1, t0))
	})

	t.Run("WorkOfTheCallGoesTheErasureStays", func(t *testing.T) {
		s := newStore(t)
		endedCall(t, s, 1)
		leased := mustClaim(t, s, claimAt) // the call's archive or summary work
		if _, err := s.DeleteCall(t.Context(), callSID(1), erase); err != nil {
			t.Fatalf("DeleteCall: %v", err)
		}
		if w := drain(t, s, claimAt.Add(100*lease)); len(w) != 0 {
			t.Errorf("work left for the deleted call: %+v", w)
		}
		if err := s.CompleteWork(t.Context(), leased); err == nil {
			t.Error("CompleteWork of the deleted call's work succeeded")
		}
		if e := mustClaimErasure(t, s, claimAt); e.CallSID != callSID(1) {
			t.Errorf("claimed the erasure of %s, want %s", e.CallSID, callSID(1))
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		_, _, err := s.ClaimErasure(t.Context(), claimAt, 0)
		wantKind(t, "ClaimErasure with no lease", err, storage.ErrInvalid)
	})
}
