package postgres_test

import (
	"sync"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// TestDeliveryBoundAcrossInstances races claimers on three stores (three
// instances' pools) for one endpoint's deliveries: however the claims
// interleave, no more than the bound are leased at once, and each
// delivery is leased by one claimer.
func TestDeliveryBoundAcrossInstances(t *testing.T) {
	url := pgtest.MigratedURL(t)
	stores := []storage.Store{mustOpen(t, testConfig(url)), mustOpen(t, testConfig(url)), mustOpen(t, testConfig(url))}
	s := stores[0]
	ctx := t.Context()
	ep, err := s.CreateEndpoint(ctx, storage.NewEndpoint{URL: "https://a.example.com", Events: []storage.EventType{storage.EventCallStarted},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if err != nil {
		t.Fatal(err)
	}
	const events, bound = 20, 3
	for i := range events {
		if _, _, err := s.StartCall(ctx, storage.NewCall{SID: callSID(i), At: time.Now()}, storage.Turn{}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		e, ok, err := s.ClaimEvent(ctx, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if _, err := s.FanOutEvent(ctx, e, "msg_"+e.CallSID, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now().Add(time.Second)
	for round := range 3 {
		var mu sync.Mutex
		var claimed []storage.Delivery
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				d, ok, err := stores[i%len(stores)].ClaimDelivery(ctx, now, time.Minute, bound)
				if err != nil {
					t.Errorf("ClaimDelivery: %v", err)
					return
				}
				if ok {
					mu.Lock()
					claimed = append(claimed, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != bound {
			t.Fatalf("round %d: %d deliveries leased at once, want the bound %d", round, len(claimed), bound)
		}
		seen := map[int64]bool{}
		for _, d := range claimed {
			if seen[d.ID] || d.EndpointID != ep.ID {
				t.Fatalf("round %d: delivery %d claimed twice or of another endpoint", round, d.ID)
			}
			seen[d.ID] = true
			if err := s.FinishAttempt(ctx, d, storage.DeliveryOutcome{Delivered: true, Attempt: storage.DeliveryAttempt{At: now, Status: 200}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestIdlePollRoundTrips pins what an idle delivery worker costs the
// database each poll, counted on the wire: one round trip to find no event
// to fan out, one to find no delivery due, with endpoints registered.
func TestIdlePollRoundTrips(t *testing.T) {
	var rt pgtest.RoundTrips
	cfg := testConfig(pgtest.MigratedURL(t))
	cfg.MaxConns, cfg.Dial = 1, rt.Dial
	s := mustOpen(t, cfg)
	ctx := t.Context()
	if _, err := s.CreateEndpoint(ctx, storage.NewEndpoint{URL: "https://a.example.com", Events: storage.EventTypes,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}); err != nil {
		t.Fatal(err)
	}
	poll := func() {
		if _, ok, err := s.ClaimEvent(ctx, time.Now(), time.Minute); err != nil || ok {
			t.Fatalf("ClaimEvent = %v, %v", ok, err)
		}
		if _, ok, err := s.ClaimDelivery(ctx, time.Now(), time.Minute, 2); err != nil || ok {
			t.Fatalf("ClaimDelivery = %v, %v", ok, err)
		}
	}
	poll() // statements prepared on the one connection
	before := rt.Count()
	poll()
	if got := rt.Count() - before; got != 2 {
		t.Errorf("an idle poll took %d round trips, want 2", got)
	}
}
