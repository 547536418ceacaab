package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// TestRoundTripsPerWebhook pins what each webhook costs in PostgreSQL round
// trips, counted on the wire (pgtest.RoundTrips), on a warm connection: the
// service as wired for production (DATABASE_URL), one pooled connection,
// each kind of request sent once before it is measured so its statements
// are prepared. A regression — a read before a write, a BEGIN/COMMIT, a
// statement not shaped for its webhook — fails here.
func TestRoundTripsPerWebhook(t *testing.T) {
	var rt pgtest.RoundTrips
	in := servicetest.Start(t, servicetest.Options{NoWorkers: true, Configure: func(c *service.Config) {
		c.Postgres = postgres.Config{
			URL: pgtest.MigratedURL(t), MaxConns: 1, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second, Dial: rt.Dial,
		}
	}})
	type step struct {
		name, path string
		form       func(call twiliotest.Call) url.Values
		status     int
		budget     int64
	}
	steps := []step{
		{"IncomingCall", "/twilio/voice", func(c twiliotest.Call) url.Values { return c.Form("CallStatus", "ringing") }, 200, 1},
		{"IncomingCallRepeated", "/twilio/voice", func(c twiliotest.Call) url.Values { return c.Form("CallStatus", "ringing") }, 200, 1},
		// Before the assistant and after it: one each.
		{"SpeechTurn", "/twilio/gather?turn=1", func(c twiliotest.Call) url.Values {
			return c.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?", "Confidence", "0.9")
		}, 200, 2},
		{"SpeechTurnRepeated", "/twilio/gather?turn=1", func(c twiliotest.Call) url.Values {
			return c.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?", "Confidence", "0.9")
		}, 200, 1},
		{"Silence", "/twilio/gather?silence=1&turn=2", func(c twiliotest.Call) url.Values { return c.Form("CallStatus", "in-progress") }, 200, 1},
		{"StatusCallback", "/twilio/status", func(c twiliotest.Call) url.Values {
			return c.Form("CallStatus", "completed", "CallDuration", "42", "SequenceNumber", "3")
		}, 204, 1},
		{"StatusCallbackRepeated", "/twilio/status", func(c twiliotest.Call) url.Values {
			return c.Form("CallStatus", "completed", "CallDuration", "42", "SequenceNumber", "3")
		}, 204, 1},
		{"RecordingCallback", "/twilio/recording", func(c twiliotest.Call) url.Values {
			rec := twiliotest.SID("RE")
			return c.Form("RecordingSid", rec, "RecordingUrl", in.Media.RecordingURL(rec), "RecordingStatus", "completed",
				"RecordingDuration", "31", "RecordingChannels", "2")
		}, 204, 1},
	}
	send := func(call twiliotest.Call, st step) {
		t.Helper()
		if r := in.Webhook(st.path, st.form(call)); r.Status != st.status {
			t.Fatalf("%s: %d %s", st.name, r.Status, r.Body)
		}
	}
	// Calls to a number routed to a stored assistant cost what calls to the
	// default assistant do: the number is resolved in the statement that
	// records the call, and the version's settings are read once per
	// instance (the warm-up) and kept.
	a := createAssistant(t, in, `{"name": "Routed", "prompt": "You answer for the routed number.", "greeting": "Routed hello."}`)
	wantStatus(t, "POST /numbers", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+18005550177", "assistant_id": "`+a.ID+`"}`), http.StatusCreated)
	// An endpoint that wants every event: the events are recorded by the
	// webhooks' own statements, at no extra round trip.
	wantStatus(t, "POST /webhooks", in.Send(http.MethodPost, "/api/v1/webhooks",
		`{"url": "https://crm.example.com/hooks", "events": ["call.started", "call.ended", "call.deleted", "transfer.completed"]}`), http.StatusCreated)
	for _, routed := range []bool{false, true} {
		newCall := func() twiliotest.Call {
			c := twiliotest.NewCall(servicetest.AccountSID)
			if routed {
				c.To = "+18005550177"
			}
			return c
		}
		// Warm up: every statement prepared on the one connection.
		warm := newCall()
		for _, st := range steps {
			send(warm, st)
		}
		call := newCall()
		for _, st := range steps {
			before := rt.Count()
			send(call, st)
			got := rt.Count() - before
			t.Logf("%s (routed %t): %d round trips", st.name, routed, got)
			if got != st.budget {
				t.Errorf("%s (routed %t) took %d round trips, want %d", st.name, routed, got, st.budget)
			}
		}
		if want := (storage.AssistantRef{ID: a.ID, Version: 1}); routed && in.GetCall(call.CallSID).Assistant != want {
			t.Errorf("the routed call ran with %+v, want %+v", in.GetCall(call.CallSID).Assistant, want)
		}
	}
	call := twiliotest.NewCall(servicetest.AccountSID)
	for _, st := range steps[:1] {
		send(call, st)
	}
	t.Run("CallbacksOfUnknownCalls", func(t *testing.T) {
		// The status or recording callback of a call no other webhook told
		// of creates it in the same round trip.
		for _, st := range []step{steps[5], steps[7]} {
			unknown := twiliotest.NewCall(servicetest.AccountSID)
			before := rt.Count()
			send(unknown, st)
			if got := rt.Count() - before; got != 1 {
				t.Errorf("%s of an unknown call took %d round trips, want 1", st.name, got)
			}
			if in.GetCall(unknown.CallSID).SID != unknown.CallSID {
				t.Errorf("%s did not create the call", st.name)
			}
		}
	})
	started, ended := 0, 0
	for {
		e, ok, err := in.Service.Calls.ClaimEvent(t.Context(), time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		switch e.Type {
		case storage.EventCallStarted:
			started++
		case storage.EventCallEnded:
			ended++
		}
	}
	// Four measured calls and the warm-ups start; the unknown calls' first
	// webhooks are not their start, and their status ends one.
	if started != 5 || ended != 5 {
		t.Errorf("recorded %d call.started and %d call.ended events, want 5 and 5", started, ended)
	}
	if r := in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID); r.Status != http.StatusOK {
		t.Fatalf("the measured call: %d %s", r.Status, r.Body)
	}
}
