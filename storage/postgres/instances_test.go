package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// TestSeveralInstances runs three stores (three pools, as three instances
// would have) on one database and races every write against a twin on
// another instance: the database alone keeps each effect single.
func TestSeveralInstances(t *testing.T) {
	url := pgtest.MigratedURL(t)
	stores := []*postgres.Store{mustOpen(t, testConfig(url)), mustOpen(t, testConfig(url)), mustOpen(t, testConfig(url))}
	const calls, turns = 8, 5
	at := time.Date(2026, 2, 12, 11, 0, 0, 0, time.UTC)

	t.Run("DuplicatesStoreOnce", func(t *testing.T) {
		var wg sync.WaitGroup
		created := make([]int, calls)
		var mu sync.Mutex
		for c := range calls {
			sid := callSID(c)
			for dup := range 2 {
				wg.Go(func() {
					s := stores[(c+dup)%len(stores)]
					if _, _, err := s.StartCall(t.Context(), storage.NewCall{SID: sid, From: "+14155550100", At: at.Add(time.Duration(c) * time.Second)}, storage.Turn{}); err != nil {
						t.Errorf("UpsertCall: %v", err)
						return
					}
					for n := 1; n <= turns; n++ {
						for _, role := range []storage.Role{storage.RoleCaller, storage.RoleAssistant} {
							_, ok, err := s.AddTurn(t.Context(), storage.Turn{CallSID: sid, Number: n, Role: role, Text: fmt.Sprintf("%s %d from instance %d", role, n, dup)})
							if err != nil {
								t.Errorf("AddTurn: %v", err)
								return
							}
							if ok {
								mu.Lock()
								created[c]++
								mu.Unlock()
							}
						}
					}
					for _, st := range []storage.CallStatus{storage.StatusInProgress, storage.StatusCompleted, storage.StatusRinging} {
						if _, err := s.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: st, At: at.Add(time.Minute)}); err != nil {
							t.Errorf("ApplyStatus: %v", err)
						}
					}
				})
			}
		}
		wg.Wait()
		for c := range calls {
			if created[c] != 2*turns {
				t.Errorf("call %d: %d turns reported created, want %d", c, created[c], 2*turns)
			}
			got, err := stores[0].GetCall(t.Context(), callSID(c))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Turns) != 2*turns || got.Status != storage.StatusCompleted || len(got.Timeline) != 3 {
				t.Errorf("call %d: %d turns, status %s, %d timeline events; want %d, completed, 3", c, len(got.Turns), got.Status, len(got.Timeline), 2*turns)
			}
		}
	})

	t.Run("EachItemClaimedOnce", func(t *testing.T) {
		now := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				s := stores[i%len(stores)]
				for {
					w, ok, err := s.ClaimWork(t.Context(), now, time.Minute)
					if err != nil {
						t.Errorf("ClaimWork: %v", err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					seen[w.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != calls {
			t.Errorf("claimed %d items, want one summary per call (%d)", len(seen), calls)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("item %d claimed %d times while leased", id, n)
			}
		}
	})
}

// TestDeleteRacesWork deletes calls while workers finish their work and
// callbacks keep arriving: every operation either succeeds or finds the
// call gone; none deadlocks (which would surface as ErrUnavailable).
func TestDeleteRacesWork(t *testing.T) {
	url := pgtest.MigratedURL(t)
	a, b := mustOpen(t, testConfig(url)), mustOpen(t, testConfig(url))
	const calls = 12
	now := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for c := range calls {
		sid := callSID(c)
		if _, _, err := a.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.AddRecording(t.Context(), storage.Recording{SID: fmt.Sprintf("RE%032x", c), CallSID: sid}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ApplyStatus(t.Context(), storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted}); err != nil {
			t.Fatal(err)
		}
	}
	var claimed []storage.Work
	for {
		w, ok, err := b.ClaimWork(t.Context(), now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		claimed = append(claimed, w)
	}
	if len(claimed) != 2*calls {
		t.Fatalf("claimed %d items, want %d", len(claimed), 2*calls)
	}

	acceptable := func(what string, err error) {
		if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrGone) {
			t.Errorf("%s: %v, want success, ErrNotFound, ErrConflict or ErrGone", what, err)
		}
	}
	var wg sync.WaitGroup
	for c := range calls {
		wg.Go(func() {
			_, err := a.DeleteCall(t.Context(), callSID(c), storage.DeleteOptions{ReplicaBucket: "recordings-dr"})
			acceptable("DeleteCall", err)
		})
		wg.Go(func() {
			_, err := b.ApplyStatus(t.Context(), storage.NewCall{SID: callSID(c)}, storage.StatusEvent{Status: storage.StatusInProgress})
			acceptable("ApplyStatus", err)
		})
	}
	for _, w := range claimed {
		wg.Go(func() {
			var err error
			if w.Kind == storage.WorkArchiveRecording {
				err = b.CompleteRecording(t.Context(), w, storage.StoredBlob{Key: "recordings/" + w.RecordingSID + ".wav"}, true)
			} else {
				err = b.CompleteSummary(t.Context(), w, storage.Summary{Text: "done"}, false)
			}
			acceptable("completing "+string(w.Kind), err)
		})
	}
	wg.Wait()
	page, err := a.ListCalls(t.Context(), storage.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Calls) != 0 {
		t.Errorf("%d calls left after deleting them all", len(page.Calls))
	}
	if w, ok, err := a.ClaimWork(t.Context(), now.Add(time.Hour), time.Minute); err != nil || ok {
		t.Errorf("ClaimWork after deleting every call = %+v, %v, %v; want nothing", w, ok, err)
	}
	// A recording without an account SID has no ArchiveKey: a call's
	// erasure exists exactly when its audio was recorded as stored before
	// the delete, and names that key.
	for {
		e, ok, err := b.ClaimErasure(t.Context(), now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		want := "recordings/RE" + strings.TrimPrefix(e.CallSID, "CA") + ".wav"
		if len(e.Keys) != 1 || e.Keys[0] != want {
			t.Errorf("erasure of %s has keys %v, want [%s]", e.CallSID, e.Keys, want)
		}
	}
}
