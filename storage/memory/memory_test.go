package memory_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/memory"
	"switchboard/storage/storagetest"
)

func TestCallStore(t *testing.T) {
	storagetest.TestCallStore(t, func(t *testing.T) storage.Store { return memory.New() })
}

// The contract leaves work IDs and lease tokens to each store; these pin
// the memory store's choices, which its logs and dev tooling rely on.
func TestWorkIdentity(t *testing.T) {
	t.Run("IDsIncreaseAndLeasesAreRandomHex", func(t *testing.T) {
		s := memory.New()
		ctx := t.Context()
		at := time.Date(2026, 2, 12, 11, 0, 0, 0, time.UTC)
		for i := range 3 {
			sid := fmt.Sprintf("CA%032x", i)
			if _, _, err := s.StartCall(ctx, storage.NewCall{SID: sid, At: at}, storage.Turn{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ApplyStatus(ctx, storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, At: at, Sequence: -1}); err != nil {
				t.Fatal(err)
			}
		}
		var last int64
		leases := map[string]bool{}
		for range 3 {
			w, ok, err := s.ClaimWork(ctx, at, time.Minute)
			if err != nil || !ok {
				t.Fatalf("ClaimWork = ok %v, error %v", ok, err)
			}
			if w.ID <= last {
				t.Errorf("work ID %d after %d, want increasing", w.ID, last)
			}
			last = w.ID
			if b, err := hex.DecodeString(w.Lease); err != nil || len(b) != 16 {
				t.Errorf("lease %q is not 16 random bytes in hex", w.Lease)
			}
			leases[w.Lease] = true
		}
		if len(leases) != 3 {
			t.Errorf("leases repeat: %v", leases)
		}
	})
}

// These inputs are outside what the contract pins; the memory store rejects
// them rather than guess.
func TestRejectsNonsense(t *testing.T) {
	s := memory.New()
	t.Run("ErrInvalidForNonPositiveLease", func(t *testing.T) {
		_, _, err := s.ClaimWork(t.Context(), time.Now(), 0)
		if !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("ClaimWork with no lease: error %v, want ErrInvalid", err)
		}
	})
	t.Run("ErrInvalidForNegativeLimit", func(t *testing.T) {
		_, err := s.ListCalls(t.Context(), storage.CallFilter{Limit: -1})
		if !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("ListCalls with Limit -1: error %v, want ErrInvalid", err)
		}
	})
	t.Run("ErrInvalidForStoredNewRecording", func(t *testing.T) {
		sid := fmt.Sprintf("CA%032x", 1)
		if _, _, err := s.StartCall(t.Context(), storage.NewCall{SID: sid}, storage.Turn{}); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.AddRecording(t.Context(), storage.Recording{SID: fmt.Sprintf("RE%032x", 1), CallSID: sid, State: storage.RecordingStored})
		if !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("AddRecording in state stored: error %v, want ErrInvalid", err)
		}
	})
}
