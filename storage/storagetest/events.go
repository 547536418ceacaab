package storagetest

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"switchboard/storage"
)

// The event endpoints, the events the writes record for them, fanning
// them out into deliveries, and the delivery queue.

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func testEvents(t *testing.T, newStore newStoreFunc) {
	t.Run("Endpoints", func(t *testing.T) { testEndpoints(t, newStore) })
	t.Run("RecordedOncePerChange", func(t *testing.T) { testEventsRecorded(t, newStore) })
	t.Run("FanOut", func(t *testing.T) { testFanOut(t, newStore) })
	t.Run("ClaimDelivery", func(t *testing.T) { testClaimDelivery(t, newStore) })
	t.Run("FinishAttempt", func(t *testing.T) { testFinishAttempt(t, newStore) })
	t.Run("PurgeDeliveries", func(t *testing.T) { testPurgeDeliveries(t, newStore) })
}

func mustCreateEndpoint(t *testing.T, s storage.Store, url string, events ...storage.EventType) storage.Endpoint {
	t.Helper()
	e, err := s.CreateEndpoint(t.Context(), storage.NewEndpoint{URL: url, Events: events, Secret: testSecret})
	if err != nil {
		t.Fatalf("CreateEndpoint(%s): %v", url, err)
	}
	return e
}

// claimEvents claims every event not yet fanned out, in order.
func claimEvents(t *testing.T, s storage.Store) []storage.Event {
	t.Helper()
	var all []storage.Event
	for range 100 {
		e, ok, err := s.ClaimEvent(t.Context(), claimAt, lease)
		if err != nil {
			t.Fatalf("ClaimEvent: %v", err)
		}
		if !ok {
			return all
		}
		all = append(all, e)
	}
	t.Fatal("ClaimEvent keeps returning events")
	return nil
}

func eventKeys(evs []storage.Event) []string {
	var keys []string
	for _, e := range evs {
		keys = append(keys, string(e.Type)+" "+e.CallSID+" "+e.Subject)
	}
	return keys
}

func testEndpoints(t *testing.T, newStore newStoreFunc) {
	t.Run("OK", func(t *testing.T) {
		s := newStore(t)
		a := mustCreateEndpoint(t, s, "https://crm.example.com/hooks", storage.EventCallEnded, storage.EventCallStarted)
		b := mustCreateEndpoint(t, s, "https://tickets.example.com/in", storage.EventCallDeleted)
		if !storage.ValidEndpointID(a.ID) || a.ID == b.ID || !a.Enabled || a.Secret != testSecret || a.CreatedAt.IsZero() {
			t.Fatalf("created %+v", a)
		}
		if !slices.Equal(a.Events, []storage.EventType{storage.EventCallEnded, storage.EventCallStarted}) {
			t.Errorf("events = %v", a.Events)
		}
		got, err := s.GetEndpoint(t.Context(), a.ID)
		if err != nil || got.URL != a.URL || got.Secret != testSecret || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("GetEndpoint = %+v, %v", got, err)
		}
		list, err := s.ListEndpoints(t.Context())
		if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
			t.Fatalf("ListEndpoints = %+v, %v", list, err)
		}
		off, err := s.SetEndpointEnabled(t.Context(), a.ID, false)
		if err != nil || off.Enabled {
			t.Fatalf("SetEndpointEnabled(false) = %+v, %v", off, err)
		}
		on, err := s.SetEndpointEnabled(t.Context(), a.ID, true)
		if err != nil || !on.Enabled || on.DisabledReason != "" {
			t.Fatalf("SetEndpointEnabled(true) = %+v, %v", on, err)
		}
		if err := s.DeleteEndpoint(t.Context(), a.ID); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		if list, _ := s.ListEndpoints(t.Context()); len(list) != 1 || list[0].ID != b.ID {
			t.Errorf("after the delete: %+v", list)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		id := storage.NewEndpointID()
		_, err := s.GetEndpoint(t.Context(), id)
		wantKind(t, "ErrNotFound", err, storage.ErrNotFound)
		_, err = s.SetEndpointEnabled(t.Context(), id, true)
		wantKind(t, "ErrNotFound", err, storage.ErrNotFound)
		wantKind(t, "ErrNotFound", s.DeleteEndpoint(t.Context(), id), storage.ErrNotFound)
		_, err = s.ListDeliveries(t.Context(), id, 10, "")
		wantKind(t, "ErrNotFound", err, storage.ErrNotFound)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		for name, n := range map[string]storage.NewEndpoint{
			"NoURL":        {Events: []storage.EventType{storage.EventCallEnded}, Secret: testSecret},
			"NoEvents":     {URL: "https://a.example.com", Secret: testSecret},
			"UnknownEvent": {URL: "https://a.example.com", Events: []storage.EventType{"call.exploded"}, Secret: testSecret},
			"Repeated":     {URL: "https://a.example.com", Events: []storage.EventType{storage.EventCallEnded, storage.EventCallEnded}, Secret: testSecret},
			"NoSecret":     {URL: "https://a.example.com", Events: []storage.EventType{storage.EventCallEnded}},
		} {
			_, err := s.CreateEndpoint(t.Context(), n)
			if !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("%s: CreateEndpoint = %v, want ErrInvalid", name, err)
			}
		}
		if list, _ := s.ListEndpoints(t.Context()); len(list) != 0 {
			t.Errorf("invalid endpoints were stored: %+v", list)
		}
	})
	t.Run("ErrConflictPastTheMost", func(t *testing.T) {
		s := newStore(t)
		for i := range storage.MaxEndpoints {
			mustCreateEndpoint(t, s, "https://a.example.com/"+strconv.Itoa(i), storage.EventCallEnded)
		}
		_, err := s.CreateEndpoint(t.Context(), storage.NewEndpoint{URL: "https://a.example.com/x", Events: []storage.EventType{storage.EventCallEnded}, Secret: testSecret})
		wantKind(t, "ErrConflict", err, storage.ErrConflict)
	})
}

func testEventsRecorded(t *testing.T, newStore newStoreFunc) {
	t.Run("NoneWithoutAnEndpoint", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		endCall(t, s, 1)
		mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallDeleted)
		mustUpsert(t, s, newCall(2, t0))
		if got := claimEvents(t, s); len(got) != 0 {
			t.Errorf("events nobody wants were recorded: %v", eventKeys(got))
		}
	})
	t.Run("EachChangeOnce", func(t *testing.T) {
		s := newStore(t)
		mustCreateEndpoint(t, s, "https://a.example.com", storage.EventTypes...)
		// Every webhook twice, as Twilio retries them.
		for range 2 {
			mustUpsert(t, s, newCall(1, t0))
			mustAddRecording(t, s, newRecording(1, 1))
			endCall(t, s, 1)
		}
		w := claimKind(t, s, storage.WorkArchiveRecording)
		key := newRecording(1, 1).ArchiveKey()
		if err := s.CompleteRecording(t.Context(), w, storage.StoredBlob{Key: key, Size: 1, ContentType: "audio/wav"}, false); err != nil {
			t.Fatalf("CompleteRecording: %v", err)
		}
		mustAddRecording(t, s, newRecording(1, 1))
		w = claimKind(t, s, storage.WorkSummarizeCall)
		if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Asked for the hours."}, false); err != nil {
			t.Fatalf("CompleteSummary: %v", err)
		}
		mustDelete(t, s, callSID(1))
		want := []string{
			"call.started " + callSID(1) + " ",
			"call.ended " + callSID(1) + " ",
			"recording.stored " + callSID(1) + " " + recordingSID(1),
			"call.summarized " + callSID(1) + " ",
			"call.deleted " + callSID(1) + " ",
		}
		got := eventKeys(claimEvents(t, s))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("events:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("SummarizedAfterTheAnalysis", func(t *testing.T) {
		s := newStore(t)
		mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallSummarized)
		mustUpsert(t, s, newCall(1, t0))
		endCall(t, s, 1)
		w := claimKind(t, s, storage.WorkSummarizeCall)
		if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Asked for the hours."}, true); err != nil {
			t.Fatalf("CompleteSummary: %v", err)
		}
		if got := claimEvents(t, s); len(got) != 0 {
			t.Fatalf("summarized before the analysis: %v", eventKeys(got))
		}
		w = claimKind(t, s, storage.WorkAnalyzeCall)
		if err := s.CompleteAnalysis(t.Context(), w, storage.Analysis{Fields: []byte(`{"intent":"hours"}`), CreatedAt: t0}); err != nil {
			t.Fatalf("CompleteAnalysis: %v", err)
		}
		if got := eventKeys(claimEvents(t, s)); !slices.Equal(got, []string{"call.summarized " + callSID(1) + " "}) {
			t.Errorf("events = %q", got)
		}
	})
	t.Run("SummarizedWhenTheAnalysisFailsForGood", func(t *testing.T) {
		s := newStore(t)
		mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallSummarized)
		mustUpsert(t, s, newCall(1, t0))
		endCall(t, s, 1)
		w := claimKind(t, s, storage.WorkSummarizeCall)
		if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Asked for the hours."}, true); err != nil {
			t.Fatalf("CompleteSummary: %v", err)
		}
		w = claimKind(t, s, storage.WorkAnalyzeCall)
		if err := s.FailWork(t.Context(), w, storage.Failure{Err: "model down", RetryAt: claimAt}); err != nil {
			t.Fatalf("FailWork: %v", err)
		}
		if got := claimEvents(t, s); len(got) != 0 {
			t.Fatalf("summarized on a retried failure: %v", eventKeys(got))
		}
		w = claimKind(t, s, storage.WorkAnalyzeCall)
		if err := s.FailWork(t.Context(), w, storage.Failure{Err: "model down", Final: true}); err != nil {
			t.Fatalf("FailWork: %v", err)
		}
		if got := eventKeys(claimEvents(t, s)); !slices.Equal(got, []string{"call.summarized " + callSID(1) + " "}) {
			t.Errorf("events = %q", got)
		}
	})
	t.Run("TransferCompleted", func(t *testing.T) {
		s := newStore(t)
		w, ok := s.(storage.TransferWriter)
		if !ok {
			t.Fatal("the store does not record transfers (storage.TransferWriter)")
		}
		mustCreateEndpoint(t, s, "https://a.example.com", storage.EventTransferCompleted)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, storage.Turn{CallSID: callSID(1), Number: 1, Role: storage.RoleAssistant, Text: "Putting you through.", Confidence: -1,
			Transfer: &storage.Transfer{Turn: 1, Target: "Sales", Number: "+14155550100", Mode: storage.TransferCold,
				Status: storage.TransferDialing, RequestedAt: t0}, CreatedAt: t0})
		if _, err := w.AnswerTransfer(t.Context(), callSID(1), 1, callSID(900), t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := claimEvents(t, s); len(got) != 0 {
			t.Fatalf("completed on the answer: %v", eventKeys(got))
		}
		for range 2 {
			if _, err := w.EndTransfer(t.Context(), callSID(1), 1, storage.TransferEnd{Status: "completed", TalkSeconds: 30, At: t0.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		if got := eventKeys(claimEvents(t, s)); !slices.Equal(got, []string{"transfer.completed " + callSID(1) + " 1"}) {
			t.Errorf("events = %q", got)
		}
	})
}

// mustFanOut claims the next event and fans it out with payload.
func mustFanOut(t *testing.T, s storage.Store, msgID string, payload []byte) (storage.Event, int) {
	t.Helper()
	e, ok, err := s.ClaimEvent(t.Context(), claimAt, lease)
	if err != nil || !ok {
		t.Fatalf("ClaimEvent = %v, %v", ok, err)
	}
	n, err := s.FanOutEvent(t.Context(), e, msgID, payload)
	if err != nil {
		t.Fatalf("FanOutEvent: %v", err)
	}
	return e, n
}

func testFanOut(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	all := mustCreateEndpoint(t, s, "https://all.example.com", storage.EventTypes...)
	ended := mustCreateEndpoint(t, s, "https://ended.example.com", storage.EventCallEnded)
	off := mustCreateEndpoint(t, s, "https://off.example.com", storage.EventTypes...)
	if _, err := s.SetEndpointEnabled(t.Context(), off.ID, false); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, s, newCall(1, t0))
	endCall(t, s, 1)

	e, ok, err := s.ClaimEvent(t.Context(), claimAt, lease)
	if err != nil || !ok || e.Type != storage.EventCallStarted {
		t.Fatalf("ClaimEvent = %+v, %v, %v", e, ok, err)
	}
	e2, ok, err := s.ClaimEvent(t.Context(), claimAt, lease)
	if err != nil || !ok || e2.ID == e.ID || e2.Type != storage.EventCallEnded {
		t.Fatalf("the second ClaimEvent = %+v, %v, %v; want call.ended", e2, ok, err)
	}
	if _, err := s.FanOutEvent(t.Context(), storage.Event{ID: e.ID, Lease: "stale"}, "msg_x", []byte("{}")); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("FanOutEvent with a stale lease = %v, want ErrConflict", err)
	}
	n, err := s.FanOutEvent(t.Context(), e, "msg_started", []byte(`{"type":"call.started"}`))
	if err != nil || n != 1 {
		t.Fatalf("FanOutEvent(call.started) = %d, %v; want 1 delivery", n, err)
	}
	if _, err := s.FanOutEvent(t.Context(), e, "msg_started", []byte(`{}`)); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("a second FanOutEvent = %v, want ErrConflict", err)
	}
	if n, err := s.FanOutEvent(t.Context(), e2, "msg_ended", []byte(`{"type":"call.ended"}`)); err != nil || n != 2 {
		t.Fatalf("call.ended made %d deliveries (%v), want 2", n, err)
	}
	for ep, want := range map[string][]string{all.ID: {"msg_ended", "msg_started"}, ended.ID: {"msg_ended"}, off.ID: nil} {
		page, err := s.ListDeliveries(t.Context(), ep, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range page.Deliveries {
			got = append(got, d.MessageID)
			if d.State != storage.DeliveryPending || d.Attempts != 0 || d.CallSID != callSID(1) || d.NextAttempt == nil {
				t.Errorf("a new delivery: %+v", d)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("endpoint %s deliveries %q, want %q", ep, got, want)
		}
	}

	t.Run("DroppedWithoutPayload", func(t *testing.T) {
		s := newStore(t)
		mustCreateEndpoint(t, s, "https://all.example.com", storage.EventTypes...)
		mustUpsert(t, s, newCall(1, t0))
		if _, n := mustFanOut(t, s, "msg_x", nil); n != 0 {
			t.Errorf("a dropped event made %d deliveries", n)
		}
		if got := claimEvents(t, s); len(got) != 0 {
			t.Errorf("a dropped event is claimed again: %v", eventKeys(got))
		}
	})
}

// mustClaimDelivery claims the next delivery and fails when none is due.
func mustClaimDelivery(t *testing.T, s storage.Store, now time.Time, per int) storage.Delivery {
	t.Helper()
	d, ok, err := s.ClaimDelivery(t.Context(), now, lease, per)
	if err != nil || !ok {
		t.Fatalf("ClaimDelivery(%v) = %v, %v; want a delivery", now, ok, err)
	}
	return d
}

func mustNoDelivery(t *testing.T, s storage.Store, now time.Time, per int) {
	t.Helper()
	d, ok, err := s.ClaimDelivery(t.Context(), now, lease, per)
	if err != nil || ok {
		t.Fatalf("ClaimDelivery(%v) = %+v, %v, %v; want none", now, d, ok, err)
	}
}

// deliveriesFor makes n events (calls ended) fanned out to the store's endpoints.
func deliveriesFor(t *testing.T, s storage.Store, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		mustUpsert(t, s, newCall(i, t0))
		endCall(t, s, i)
	}
	for _, e := range claimEvents(t, s) {
		if _, err := s.FanOutEvent(t.Context(), e, "msg_"+strconv.FormatInt(e.ID, 10), []byte(`{"n":`+strconv.FormatInt(e.ID, 10)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
}

func testClaimDelivery(t *testing.T, newStore newStoreFunc) {
	t.Run("BoundPerEndpointAndTurns", func(t *testing.T) {
		s := newStore(t)
		a := mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallEnded)
		deliveriesFor(t, s, 1, 3)
		mustCreateEndpoint(t, s, "https://b.example.com", storage.EventCallEnded)
		deliveriesFor(t, s, 10, 1)

		first := mustClaimDelivery(t, s, claimAt, 1)
		second := mustClaimDelivery(t, s, claimAt, 1)
		if first.EndpointID == second.EndpointID {
			t.Fatalf("two deliveries of endpoint %s claimed with a bound of 1", first.EndpointID)
		}
		mustNoDelivery(t, s, claimAt, 1)
		var ofA storage.Delivery
		for _, d := range []storage.Delivery{first, second} {
			if d.URL == "" || d.Secret != testSecret || len(d.Payload) == 0 || d.Lease == "" || d.MessageID == "" {
				t.Errorf("a claimed delivery lacks what sending needs: %+v", d)
			}
			if d.EndpointID == a.ID {
				ofA = d
			}
		}
		if err := s.FinishAttempt(t.Context(), ofA, storage.DeliveryOutcome{Delivered: true, Attempt: storage.DeliveryAttempt{At: claimAt, Status: 200}}); err != nil {
			t.Fatal(err)
		}
		next := mustClaimDelivery(t, s, claimAt, 1)
		if next.EndpointID != a.ID || next.ID == ofA.ID {
			t.Errorf("after a's delivery finished, claimed %+v", next)
		}
		// A bound of 2 lets a's third go alongside.
		third := mustClaimDelivery(t, s, claimAt, 2)
		if third.EndpointID != a.ID {
			t.Errorf("claimed %s, want a's third", third.EndpointID)
		}
		mustNoDelivery(t, s, claimAt, 2)
		// A claimer that died holds its deliveries until their leases
		// expire; then they are claimed again, the same message.
		held := map[int64]storage.Delivery{}
		for _, d := range []storage.Delivery{first, second, next, third} {
			if d.ID != ofA.ID {
				held[d.ID] = d
			}
		}
		for range 2 {
			again := mustClaimDelivery(t, s, claimAt.Add(2*lease), 2)
			was, ok := held[again.ID]
			if !ok || again.MessageID != was.MessageID || string(again.Payload) != string(was.Payload) || again.Lease == was.Lease {
				t.Errorf("after the leases expired, claimed %+v", again)
			}
		}
	})
	t.Run("NotForDisabledEndpoints", func(t *testing.T) {
		s := newStore(t)
		a := mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallEnded)
		deliveriesFor(t, s, 1, 1)
		if _, err := s.SetEndpointEnabled(t.Context(), a.ID, false); err != nil {
			t.Fatal(err)
		}
		mustNoDelivery(t, s, claimAt, 4)
		if _, err := s.SetEndpointEnabled(t.Context(), a.ID, true); err != nil {
			t.Fatal(err)
		}
		d := mustClaimDelivery(t, s, claimAt, 4)
		if err := s.ReleaseDelivery(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseDelivery(t.Context(), d); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("a second release = %v, want ErrConflict", err)
		}
		mustClaimDelivery(t, s, claimAt, 4)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		_, _, err := s.ClaimDelivery(t.Context(), claimAt, lease, 0)
		wantKind(t, "ErrInvalid", err, storage.ErrInvalid)
	})
}

func testFinishAttempt(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallEnded)
	deliveriesFor(t, s, 1, 2)

	d := mustClaimDelivery(t, s, claimAt, 1)
	retry := claimAt.Add(30 * time.Second)
	fail := storage.DeliveryAttempt{At: claimAt, Status: 500, Error: "status 500", DurationMS: 12.5}
	if err := s.FinishAttempt(t.Context(), d, storage.DeliveryOutcome{Attempt: fail, RetryAt: retry}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAttempt(t.Context(), d, storage.DeliveryOutcome{Delivered: true}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("FinishAttempt with a released lease = %v, want ErrConflict", err)
	}
	// The other delivery is due; the retried one not before retry.
	other := mustClaimDelivery(t, s, claimAt, 2)
	if other.ID == d.ID {
		t.Fatal("the retried delivery was claimed before its retry time")
	}
	if err := s.FinishAttempt(t.Context(), other, storage.DeliveryOutcome{Delivered: true, Attempt: storage.DeliveryAttempt{At: claimAt, Status: 200}}); err != nil {
		t.Fatal(err)
	}
	page, _ := s.ListDeliveries(t.Context(), a.ID, 10, "")
	var logged storage.Delivery
	for _, x := range page.Deliveries {
		if x.ID == d.ID {
			logged = x
		}
	}
	if logged.Attempts != 1 || logged.LastStatus != 500 || logged.LastError != "status 500" || logged.NextAttempt == nil ||
		!logged.NextAttempt.Equal(retry) || len(logged.History) != 1 || logged.History[0] != fail || logged.MessageID != d.MessageID {
		t.Fatalf("after a failed attempt: %+v", logged)
	}

	mustNoDelivery(t, s, retry.Add(-time.Microsecond), 1)
	again := mustClaimDelivery(t, s, retry, 1)
	if again.ID != d.ID || again.MessageID != d.MessageID || string(again.Payload) != string(d.Payload) {
		t.Fatalf("the retry: %+v, want delivery %d with the same message", again, d.ID)
	}
	ok := storage.DeliveryAttempt{At: retry, Status: 204, DurationMS: 3}
	if err := s.FinishAttempt(t.Context(), again, storage.DeliveryOutcome{Attempt: ok, Delivered: true}); err != nil {
		t.Fatal(err)
	}
	page, _ = s.ListDeliveries(t.Context(), a.ID, 1, "")
	got := page.Deliveries[0]
	if len(page.Deliveries) != 1 || page.NextCursor == "" {
		t.Fatalf("a page of 1 of 2: %+v", page)
	}
	if got.ID != d.ID {
		older, err := s.ListDeliveries(t.Context(), a.ID, 1, page.NextCursor)
		if err != nil || len(older.Deliveries) != 1 || older.NextCursor != "" {
			t.Fatalf("the next page: %+v, %v", older, err)
		}
		got = older.Deliveries[0]
	}
	if got.State != storage.DeliveryDelivered || got.Attempts != 2 || got.LastStatus != 204 || got.LastError != "" ||
		got.DeliveredAt == nil || !got.DeliveredAt.Equal(retry) || got.NextAttempt != nil || len(got.History) != 2 || got.History[1] != ok {
		t.Errorf("after delivery: %+v", got)
	}
	_, err := s.ListDeliveries(t.Context(), a.ID, 10, "not-a-cursor")
	wantKind(t, "ErrInvalid", err, storage.ErrInvalid)

	t.Run("GiveUpDisables", func(t *testing.T) {
		deliveriesFor(t, s, 20, 1)
		d := mustClaimDelivery(t, s, retry, 1)
		reason := "deliveries failed for 24h0m0s; the last: status 503"
		if err := s.FinishAttempt(t.Context(), d, storage.DeliveryOutcome{Attempt: storage.DeliveryAttempt{At: retry, Status: 503, Error: "status 503"},
			GiveUp: true, DisableReason: reason}); err != nil {
			t.Fatal(err)
		}
		ep, err := s.GetEndpoint(t.Context(), a.ID)
		if err != nil || ep.Enabled || ep.DisabledReason != reason {
			t.Fatalf("the endpoint after giving up: %+v, %v", ep, err)
		}
		page, _ := s.ListDeliveries(t.Context(), a.ID, 10, "")
		if page.Deliveries[0].State != storage.DeliveryFailed || page.Deliveries[0].NextAttempt != nil {
			t.Errorf("the given-up delivery: %+v", page.Deliveries[0])
		}
		on, err := s.SetEndpointEnabled(t.Context(), a.ID, true)
		if err != nil || !on.Enabled || on.DisabledReason != "" {
			t.Errorf("re-enabled: %+v, %v", on, err)
		}
	})
}

func testPurgeDeliveries(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := mustCreateEndpoint(t, s, "https://a.example.com", storage.EventCallEnded)
	deliveriesFor(t, s, 1, 5)
	_, err := s.PurgeDeliveries(t.Context(), claimAt, 0)
	wantKind(t, "ErrInvalid", err, storage.ErrInvalid)
	if n, err := s.PurgeDeliveries(t.Context(), time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("purging before they were made = %d, %v", n, err)
	}
	cutoff := time.Now().Add(time.Hour)
	if n, err := s.PurgeDeliveries(t.Context(), cutoff, 2); err != nil || n != 2 {
		t.Fatalf("first batch = %d, %v; want 2", n, err)
	}
	if n, err := s.PurgeDeliveries(t.Context(), cutoff, 10); err != nil || n != 3 {
		t.Fatalf("second batch = %d, %v; want 3", n, err)
	}
	page, _ := s.ListDeliveries(t.Context(), a.ID, 10, "")
	if len(page.Deliveries) != 0 {
		t.Errorf("left after purging: %+v", page.Deliveries)
	}
	if n, err := s.PurgeDeliveries(t.Context(), cutoff, 10); err != nil || n != 0 {
		t.Errorf("third batch = %d, %v; want 0", n, err)
	}
}
