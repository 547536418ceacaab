package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"switchboard/handlers"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// Events to the business: a receiver that verifies every request with the
// Standard Webhooks library (as a business would), against instances with
// running workers, on both stores.

// receivedEvent is one verified request a receiver got.
type receivedEvent struct {
	ID      string // webhook-id
	Type    string
	CallSID string
	Body    []byte
}

// receiver is a business's endpoint: it verifies the signature with the
// secret it is given, answers with answer (200 when nil), and keeps what
// it got.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []receivedEvent
	bad    []string
	answer func(n int, ev receivedEvent) int
}

func newReceiver(t *testing.T, answer func(n int, ev receivedEvent) int) *receiver {
	r := &receiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			CallSID string `json:"call_sid"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID != req.Header.Get("webhook-id") {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("payload %s (id %q, header %q)", body, env.ID, req.Header.Get("webhook-id")))
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev := receivedEvent{ID: env.ID, Type: env.Type, CallSID: env.Data.CallSID, Body: body}
	r.mu.Lock()
	r.got = append(r.got, ev)
	n := len(r.got)
	r.mu.Unlock()
	status := http.StatusOK
	if r.answer != nil {
		status = r.answer(n, ev)
	}
	w.WriteHeader(status)
}

// events returns what the receiver got so far; it fails the test on any
// request whose signature did not verify.
func (r *receiver) events() []receivedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Fatalf("requests that did not verify: %q", r.bad)
	}
	return append([]receivedEvent(nil), r.got...)
}

// register creates an endpoint for the receiver with events and keeps
// its secret.
func (r *receiver) register(t *testing.T, in *servicetest.Instance, events ...storage.EventType) storage.Endpoint {
	t.Helper()
	names, _ := json.Marshal(events)
	resp := in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "`+r.srv.URL+`/events", "events": `+string(names)+`}`)
	wantStatus(t, "POST /webhooks", resp, http.StatusCreated)
	var created struct {
		storage.Endpoint
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || resp.Header.Get("Location") != "/api/v1/webhooks/"+created.ID {
		t.Fatalf("created endpoint: %s (Location %q)", resp.Body, resp.Header.Get("Location"))
	}
	r.mu.Lock()
	r.secret = created.Secret
	r.mu.Unlock()
	return created.Endpoint
}

// withWorkers runs f on an instance with running workers, on each store.
func withWorkers(t *testing.T, tune func(c *service.Config), f func(t *testing.T, in *servicetest.Instance)) {
	t.Run("Memory", func(t *testing.T) { f(t, servicetest.Start(t, servicetest.Options{Configure: tune})) })
	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.MigratedURL(t)
		f(t, servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) {
			c.Postgres = postgres.Config{URL: url, MaxConns: 8, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second}
			if tune != nil {
				tune(c)
			}
		}}))
	})
}

// eventSchemas compiles the API document's schema of each event payload.
func eventSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(handlers.OpenAPIDocument()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("https://switchboard.invalid/openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for typ, name := range map[storage.EventType]string{storage.EventCallStarted: "CallStartedEvent", storage.EventCallEnded: "CallEndedEvent",
		storage.EventCallSummarized: "CallSummarizedEvent", storage.EventRecordingStored: "RecordingStoredEvent",
		storage.EventTransferCompleted: "TransferCompletedEvent", storage.EventCallDeleted: "CallDeletedEvent"} {
		s, err := c.Compile("https://switchboard.invalid/openapi.json#/components/schemas/" + name)
		if err != nil {
			t.Fatalf("compiling %s: %v", name, err)
		}
		out[string(typ)] = s
	}
	return out
}

// TestEventsDelivered runs calls through every change that makes an
// event, each webhook delivered twice as Twilio retries them, and checks
// the receiver got each event once, signed, its payload valid against
// the API document.
func TestEventsDelivered(t *testing.T) {
	schemas := eventSchemas(t)
	withWorkers(t, nil, func(t *testing.T, in *servicetest.Instance) {
		rcv := newReceiver(t, nil)
		ep := rcv.register(t, in, storage.EventTypes...)
		if r := in.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID, ""); strings.Contains(r.Body, "whsec_") {
			t.Fatalf("GET shows the secret: %s", r.Body)
		}
		if r := in.Send(http.MethodGet, "/api/v1/webhooks", ""); strings.Contains(r.Body, "whsec_") {
			t.Fatalf("the list shows the secret: %s", r.Body)
		}

		// A call with a recording and a transfer, every webhook twice.
		call, _ := routedCall(t, in, actingJSON("http://127.0.0.1:1/unused", "1s"))
		child := twiliotest.NewCall(servicetest.AccountSID)
		rec := twiliotest.SID("RE")
		in.Media.Add(rec, bytes.Repeat([]byte("RIFF audio "), 100))
		for range 2 {
			wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
			wantStatus(t, "gather", in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "Please transfer me to sales")), 200)
			wantStatus(t, "dial action", in.Webhook("/twilio/transfer?turn=1", call.Form("CallStatus", "in-progress", "DialCallStatus", "completed",
				"DialCallSid", child.CallSID, "DialCallDuration", "12")), 200)
			wantStatus(t, "recording", in.Webhook("/twilio/recording", call.Form("RecordingSid", rec, "RecordingUrl", in.Media.RecordingURL(rec),
				"RecordingStatus", "completed", "RecordingDuration", "3", "RecordingChannels", "2")), 204)
			wantStatus(t, "status", in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")), 204)
		}
		want := []string{"call.started", "transfer.completed", "call.ended", "recording.stored", "call.summarized"}
		servicetest.Eventually(t, 15*time.Second, "the call's events", func() bool { return len(rcv.events()) >= len(want) })
		wantStatus(t, "delete", in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID), 204)
		wantStatus(t, "delete again", in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID), 404)
		want = append(want, "call.deleted")
		servicetest.Eventually(t, 15*time.Second, "call.deleted", func() bool { return len(rcv.events()) >= len(want) })
		// Anything late would come within a few polls.
		time.Sleep(300 * time.Millisecond)

		got := rcv.events()
		counts := map[string]int{}
		ids := map[string]bool{}
		for _, ev := range got {
			counts[ev.Type]++
			ids[ev.ID] = true
			if ev.CallSID != call.CallSID {
				t.Errorf("%s about call %q, want %s", ev.Type, ev.CallSID, call.CallSID)
			}
			var doc any
			if err := json.Unmarshal(ev.Body, &doc); err != nil {
				t.Fatal(err)
			}
			if err := schemas[ev.Type].Validate(doc); err != nil {
				t.Errorf("%s does not match the API document: %v\n%s", ev.Type, err, ev.Body)
			}
		}
		for _, typ := range want {
			if counts[typ] != 1 {
				t.Errorf("%s delivered %d times, want once", typ, counts[typ])
			}
		}
		if len(got) != len(want) || len(ids) != len(want) {
			t.Errorf("got %d events with %d ids, want %d", len(got), len(ids), len(want))
		}
		// The payloads carry what the business files.
		for _, ev := range got {
			var p struct {
				Version int `json:"version"`
				Data    struct {
					Call      *storage.Call      `json:"call"`
					Summary   *storage.Summary   `json:"summary"`
					Recording *storage.Recording `json:"recording"`
					Transfer  *storage.Transfer  `json:"transfer"`
				} `json:"data"`
			}
			if err := json.Unmarshal(ev.Body, &p); err != nil || p.Version != 1 {
				t.Fatalf("%s: %v %s", ev.Type, err, ev.Body)
			}
			switch ev.Type {
			case "call.ended":
				if p.Data.Call.Status != storage.StatusCompleted || p.Data.Call.Duration != 42 {
					t.Errorf("call.ended: %s", ev.Body)
				}
			case "call.summarized":
				if p.Data.Summary == nil || p.Data.Summary.Text == "" {
					t.Errorf("call.summarized: %s", ev.Body)
				}
			case "recording.stored":
				if p.Data.Recording == nil || p.Data.Recording.SID != rec || p.Data.Recording.State != storage.RecordingStored {
					t.Errorf("recording.stored: %s", ev.Body)
				}
			case "transfer.completed":
				if p.Data.Transfer == nil || p.Data.Transfer.Status != "completed" || p.Data.Transfer.TalkSeconds != 12 {
					t.Errorf("transfer.completed: %s", ev.Body)
				}
			}
		}
		// The log shows each delivered once.
		page := decodeAs[storage.DeliveryPage](t, in.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID+"/deliveries", ""))
		if len(page.Deliveries) != len(want) {
			t.Fatalf("the log has %d deliveries, want %d", len(page.Deliveries), len(want))
		}
		for _, d := range page.Deliveries {
			if d.State != storage.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != 200 || !ids[d.MessageID] {
				t.Errorf("logged delivery: %+v", d)
			}
		}
	})
}

// TestEventRetriedWithTheSameID: a receiver that answers 500 and then 200
// gets the same message twice, and the log shows both attempts.
func TestEventRetriedWithTheSameID(t *testing.T) {
	withWorkers(t, nil, func(t *testing.T, in *servicetest.Instance) {
		rcv := newReceiver(t, func(n int, _ receivedEvent) int {
			if n == 1 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		ep := rcv.register(t, in, storage.EventCallStarted)
		call := twiliotest.NewCall(servicetest.AccountSID)
		wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
		var d storage.Delivery
		servicetest.Eventually(t, 15*time.Second, "the retried delivery", func() bool {
			page := decodeAs[storage.DeliveryPage](t, in.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID+"/deliveries", ""))
			if len(page.Deliveries) == 1 {
				d = page.Deliveries[0]
			}
			return d.State == storage.DeliveryDelivered
		})
		got := rcv.events()
		if len(got) != 2 || got[0].ID != got[1].ID || !bytes.Equal(got[0].Body, got[1].Body) || got[0].ID != d.MessageID {
			t.Fatalf("the receiver got %d requests: %+v; want the same message twice", len(got), got)
		}
		if d.Attempts != 2 || d.LastStatus != 200 || d.LastError != "" || len(d.History) != 2 ||
			d.History[0].Status != 500 || d.History[0].Error != "status 500" || d.History[1].Status != 200 || d.DeliveredAt == nil {
			t.Errorf("the log: %+v", d)
		}
	})
}

// TestEndpointDisabledAfterTheWindow: an endpoint that fails for longer
// than the retry window (shortened here) ends disabled, the reason shown,
// its delivery failed; enabling it again clears the reason.
func TestEndpointDisabledAfterTheWindow(t *testing.T) {
	short := func(c *service.Config) {
		c.Worker.Webhooks.RetryWindow = 400 * time.Millisecond
		c.Worker.Webhooks.BackoffBase, c.Worker.Webhooks.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	}
	withWorkers(t, short, func(t *testing.T, in *servicetest.Instance) {
		rcv := newReceiver(t, func(int, receivedEvent) int { return http.StatusServiceUnavailable })
		ep := rcv.register(t, in, storage.EventCallStarted)
		call := twiliotest.NewCall(servicetest.AccountSID)
		wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
		var got storage.Endpoint
		servicetest.Eventually(t, 15*time.Second, "the endpoint disabled", func() bool {
			got = decodeAs[storage.Endpoint](t, in.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID, ""))
			return !got.Enabled
		})
		if !strings.Contains(got.DisabledReason, "deliveries failed for 400ms") || !strings.Contains(got.DisabledReason, "status 503") {
			t.Errorf("disabled_reason = %q", got.DisabledReason)
		}
		page := decodeAs[storage.DeliveryPage](t, in.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID+"/deliveries", ""))
		if len(page.Deliveries) != 1 {
			t.Fatalf("deliveries: %+v", page.Deliveries)
		}
		d := page.Deliveries[0]
		if d.State != storage.DeliveryFailed || d.Attempts < 2 || d.LastStatus != 503 || d.NextAttempt != nil || len(d.History) != d.Attempts {
			t.Errorf("the failed delivery: %+v", d)
		}
		// Retries stopped: the receiver hears no more.
		n := len(rcv.events())
		time.Sleep(300 * time.Millisecond)
		if len(rcv.events()) != n || n != d.Attempts {
			t.Errorf("the receiver got %d requests, then %d; the log says %d attempts", n, len(rcv.events()), d.Attempts)
		}
		on := decodeAs[storage.Endpoint](t, in.Send(http.MethodPatch, "/api/v1/webhooks/"+ep.ID, `{"enabled": true}`))
		if !on.Enabled || on.DisabledReason != "" {
			t.Errorf("re-enabled: %+v", on)
		}
	})
}

// TestHangingEndpointDoesNotDelayOthers: with one delivery at a time per
// endpoint, an endpoint that never answers holds one delivery worker;
// another endpoint gets every event meanwhile.
func TestHangingEndpointDoesNotDelayOthers(t *testing.T) {
	// Attempts may take 10s: were the hanging endpoint to hold both
	// workers, the other endpoint would wait that long.
	one := func(c *service.Config) {
		c.Worker.Webhooks.PerEndpoint, c.Worker.Webhooks.Workers, c.Worker.Webhooks.Timeout = 1, 2, 10*time.Second
	}
	withWorkers(t, one, func(t *testing.T, in *servicetest.Instance) {
		release := make(chan struct{})
		var inFlight, most atomic.Int32
		hang := newReceiver(t, func(int, receivedEvent) int {
			n := inFlight.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			<-release
			inFlight.Add(-1)
			return http.StatusOK
		})
		t.Cleanup(func() { close(release) })
		fast := newReceiver(t, nil)
		hang.register(t, in, storage.EventCallStarted)
		fast.register(t, in, storage.EventCallStarted)
		const calls = 5
		for range calls {
			call := twiliotest.NewCall(servicetest.AccountSID)
			wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
		}
		servicetest.Eventually(t, 8*time.Second, "every event at the other endpoint while one hangs", func() bool {
			return len(fast.events()) == calls
		})
		if n := len(hang.events()); n != 1 || most.Load() != 1 {
			t.Errorf("the hanging endpoint got %d requests, at most %d at once; want 1", n, most.Load())
		}
	})
}

// TestWebhooksAPIRefusesBadInput attacks the endpoints API: every bad
// input is answered 4xx with the bad fields named, and nothing is stored.
func TestWebhooksAPIRefusesBadInput(t *testing.T) {
	onBothStores(t, func(t *testing.T, in *servicetest.Instance) {
		for _, c := range []struct {
			name, body string
			fields     []string
		}{
			{"NotJSON", `{"url": `, nil},
			{"NotAnObject", `["https://a.example.com"]`, nil},
			{"TwoObjects", `{"url": "https://a.example.com", "events": ["call.ended"]} {}`, nil},
			{"Empty", `{}`, []string{"events", "url"}},
			{"UnknownField", `{"url": "https://a.example.com", "events": ["call.ended"], "secret": "whsec_mine"}`, []string{"secret"}},
			{"WrongTypes", `{"url": 7, "events": "call.ended"}`, []string{"events", "url"}},
			{"UnknownEvent", `{"url": "https://a.example.com", "events": ["call.exploded"]}`, []string{"events"}},
			{"RepeatedEvent", `{"url": "https://a.example.com", "events": ["call.ended", "call.ended"]}`, []string{"events"}},
			{"NoEvents", `{"url": "https://a.example.com", "events": []}`, []string{"events"}},
			{"NullEvents", `{"url": "https://a.example.com", "events": null}`, []string{"events"}},
			{"ManyEvents", `{"url": "https://a.example.com", "events": [` + strings.Repeat(`"call.ended",`, 100) + `"call.ended"]}`, []string{"events"}},
			{"FTP", `{"url": "ftp://a.example.com/x", "events": ["call.ended"]}`, []string{"url"}},
			{"Relative", `{"url": "/hooks", "events": ["call.ended"]}`, []string{"url"}},
			{"NoHost", `{"url": "https://", "events": ["call.ended"]}`, []string{"url"}},
			{"Credentials", `{"url": "https://user:pw@a.example.com/", "events": ["call.ended"]}`, []string{"url"}},
			{"Metadata", `{"url": "http://169.254.169.254/latest/meta-data/", "events": ["call.ended"]}`, []string{"url"}},
			{"LinkLocalIPv6", `{"url": "http://[fe80::1]/x", "events": ["call.ended"]}`, []string{"url"}},
			{"MetadataIPv6", `{"url": "http://[fd00:ec2::254]/", "events": ["call.ended"]}`, []string{"url"}},
			{"Unspecified", `{"url": "http://0.0.0.0:8080/", "events": ["call.ended"]}`, []string{"url"}},
			{"TooLong", `{"url": "https://a.example.com/` + strings.Repeat("x", 2100) + `", "events": ["call.ended"]}`, []string{"url"}},
			{"Fragment", `{"url": "https://a.example.com/#x", "events": ["call.ended"]}`, []string{"url"}},
		} {
			r := in.Send(http.MethodPost, "/api/v1/webhooks", c.body)
			if c.fields == nil {
				wantError(t, c.name, r, http.StatusBadRequest, "invalid")
				continue
			}
			wantError(t, c.name, r, http.StatusBadRequest, "invalid", c.fields...)
		}
		r := in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "https://a.example.com", "events": ["call.ended"], "x": "`+strings.Repeat("y", 70<<10)+`"}`)
		wantStatus(t, "oversized", r, http.StatusRequestEntityTooLarge)
		wantStatus(t, "form", in.Send(http.MethodPost, "/api/v1/webhooks", `url=x`, "Content-Type", "application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType)
		if list := decodeAs[map[string][]storage.Endpoint](t, in.Send(http.MethodGet, "/api/v1/webhooks", "")); len(list["webhooks"]) != 0 {
			t.Fatalf("refused endpoints were stored: %+v", list)
		}

		ok := in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "https://a.example.com/hooks?token=1", "events": ["call.ended", "call.deleted"]}`)
		wantStatus(t, "create", ok, http.StatusCreated)
		path := "/api/v1/webhooks/" + decodeAs[storage.Endpoint](t, ok).ID
		wantError(t, "patch url", in.Send(http.MethodPatch, path, `{"url": "https://b.example.com"}`), http.StatusBadRequest, "invalid", "url")
		wantError(t, "patch enabled string", in.Send(http.MethodPatch, path, `{"enabled": "yes"}`), http.StatusBadRequest, "invalid", "enabled")
		wantError(t, "patch enabled null", in.Send(http.MethodPatch, path, `{"enabled": null}`), http.StatusBadRequest, "invalid", "enabled")
		wantError(t, "patch nothing", in.Send(http.MethodPatch, path, `{}`), http.StatusBadRequest, "invalid", "enabled")
		wantError(t, "patch not JSON", in.Send(http.MethodPatch, path, `{"enabled": tru`), http.StatusBadRequest, "invalid")
		for _, id := range []string{"x", "ep_", "ep_zzzzzzzzzzzzzzzzzzzzzzzz", "ep_000000000000000000000000", strings.Repeat("e", 300)} {
			wantStatus(t, "get "+id, in.Send(http.MethodGet, "/api/v1/webhooks/"+id, ""), http.StatusNotFound)
			wantStatus(t, "deliveries "+id, in.Send(http.MethodGet, "/api/v1/webhooks/"+id+"/deliveries", ""), http.StatusNotFound)
		}
		for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=abc", "cursor=-1"} {
			wantStatus(t, q, in.Send(http.MethodGet, path+"/deliveries?"+q, ""), http.StatusBadRequest)
		}
		got := decodeAs[storage.Endpoint](t, in.Send(http.MethodGet, path, ""))
		if !got.Enabled || got.URL != "https://a.example.com/hooks?token=1" {
			t.Errorf("the endpoint after refused changes: %+v", got)
		}
	})
	t.Run("PrivateRefusedUnlessAllowed", func(t *testing.T) {
		in := servicetest.Start(t, servicetest.Options{NoWorkers: true, Configure: func(c *service.Config) { c.OutboundAllowPrivate = false }})
		for _, u := range []string{"http://127.0.0.1:8080/", "http://10.0.0.7/", "http://[::1]/", "http://192.168.1.2/"} {
			wantError(t, u, in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "`+u+`", "events": ["call.ended"]}`), http.StatusBadRequest, "invalid", "url")
		}
		wantStatus(t, "public", in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "https://crm.example.com/", "events": ["call.ended"]}`), http.StatusCreated)
	})
}

// TestDeliveriesDoNotHoldUpTheWork: deliveries run on workers of their
// own, so with every delivery worker held by an endpoint that never
// answers, recordings are still archived and calls summarized.
func TestDeliveriesDoNotHoldUpTheWork(t *testing.T) {
	stuck := func(c *service.Config) {
		c.Worker.Webhooks.PerEndpoint, c.Worker.Webhooks.Workers, c.Worker.Webhooks.Timeout = 2, 2, 10*time.Second
	}
	withWorkers(t, stuck, func(t *testing.T, in *servicetest.Instance) {
		release := make(chan struct{})
		var held atomic.Int32
		hang := newReceiver(t, func(int, receivedEvent) int {
			held.Add(1)
			<-release
			return http.StatusOK
		})
		t.Cleanup(func() { close(release) })
		hang.register(t, in, storage.EventTypes...)
		// Two calls start: two deliveries, one per delivery worker.
		other := twiliotest.NewCall(servicetest.AccountSID)
		wantStatus(t, "voice", in.Webhook("/twilio/voice", other.Form("CallStatus", "ringing")), 200)
		call := twiliotest.NewCall(servicetest.AccountSID)
		wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
		wantStatus(t, "gather", in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?")), 200)
		servicetest.Eventually(t, 10*time.Second, "both delivery workers held", func() bool { return held.Load() == 2 })
		storedRecording(t, in, call)
		wantStatus(t, "status", in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")), 204)
		servicetest.Eventually(t, 10*time.Second, "the summary", func() bool { return in.GetCall(call.CallSID).Summary != nil })
		if n := held.Load(); n != 2 {
			t.Errorf("the hanging endpoint got %d requests, want the 2 the workers hold", n)
		}
	})
}

// killable is an instance's store that can be cut off from the database
// at once, as it is when the process is killed mid-delivery.
type killable struct {
	storage.Store
	cut atomic.Bool
}

var errKilled = storage.Errorf(storage.ErrUnavailable, "instance killed")

func (k *killable) ClaimEvent(ctx context.Context, now time.Time, lease time.Duration) (storage.Event, bool, error) {
	if k.cut.Load() {
		return storage.Event{}, false, errKilled
	}
	return k.Store.ClaimEvent(ctx, now, lease)
}

func (k *killable) ClaimDelivery(ctx context.Context, now time.Time, lease time.Duration, per int) (storage.Delivery, bool, error) {
	if k.cut.Load() {
		return storage.Delivery{}, false, errKilled
	}
	return k.Store.ClaimDelivery(ctx, now, lease, per)
}

func (k *killable) FinishAttempt(ctx context.Context, d storage.Delivery, o storage.DeliveryOutcome) error {
	if k.cut.Load() {
		return errKilled
	}
	return k.Store.FinishAttempt(ctx, d, o)
}

func (k *killable) ReleaseDelivery(ctx context.Context, d storage.Delivery) error {
	if k.cut.Load() {
		return errKilled
	}
	return k.Store.ReleaseDelivery(ctx, d)
}

// TestDeliveryAfterACrash: an instance killed while its delivery is in
// flight records nothing; once the lease expires another instance sends
// the same message again, and the log shows the delivery done.
func TestDeliveryAfterACrash(t *testing.T) {
	url := pgtest.MigratedURL(t)
	fast := func(c *service.Config) {
		c.Postgres = postgres.Config{URL: url, MaxConns: 4, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second}
		c.Worker.Webhooks.Timeout = 300 * time.Millisecond
	}
	store, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 4, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	doomed := &killable{Store: store}
	a := servicetest.Start(t, servicetest.Options{Calls: doomed, Configure: fast})

	var killedAt atomic.Int64
	rcv := newReceiver(t, func(n int, _ receivedEvent) int {
		if n == 1 {
			// The first attempt's instance dies while it waits.
			doomed.cut.Store(true)
			killedAt.Store(time.Now().UnixNano())
			time.Sleep(time.Second)
		}
		return http.StatusOK
	})
	ep := rcv.register(t, a, storage.EventCallStarted)
	call := twiliotest.NewCall(servicetest.AccountSID)
	wantStatus(t, "voice", a.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
	servicetest.Eventually(t, 10*time.Second, "the first attempt", func() bool { return doomed.cut.Load() })

	b := servicetest.Start(t, servicetest.Options{Configure: fast})
	var d storage.Delivery
	servicetest.Eventually(t, 20*time.Second, "the delivery by the other instance", func() bool {
		page := decodeAs[storage.DeliveryPage](t, b.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID+"/deliveries", ""))
		if len(page.Deliveries) == 1 {
			d = page.Deliveries[0]
		}
		return d.State == storage.DeliveryDelivered
	})
	got := rcv.events()
	if len(got) != 2 || got[0].ID != got[1].ID || got[0].ID != d.MessageID || !bytes.Equal(got[0].Body, got[1].Body) {
		t.Fatalf("the receiver got %+v; want the same message twice", got)
	}
	// The dead instance's attempt was never recorded; the lease held the
	// delivery until it expired.
	if d.Attempts != 1 || len(d.History) != 1 || d.History[0].Status != 200 ||
		d.History[0].At.Before(time.Unix(0, killedAt.Load()).Add(300*time.Millisecond)) {
		t.Errorf("the log: %+v", d)
	}
}

// TestDeliveryRefusesRedirectToMetadata: an endpoint that redirects to
// the instance metadata service gets nothing from there; the attempt
// fails as refused, and the log says so.
func TestDeliveryRefusesRedirectToMetadata(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	var hits atomic.Int32
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	r := in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "`+redirect.URL+`/hooks", "events": ["call.started"]}`)
	wantStatus(t, "POST /webhooks", r, http.StatusCreated)
	ep := decodeAs[storage.Endpoint](t, r)
	call := twiliotest.NewCall(servicetest.AccountSID)
	wantStatus(t, "voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
	var d storage.Delivery
	servicetest.Eventually(t, 10*time.Second, "a refused attempt", func() bool {
		page := decodeAs[storage.DeliveryPage](t, in.Send(http.MethodGet, "/api/v1/webhooks/"+ep.ID+"/deliveries", ""))
		if len(page.Deliveries) == 1 {
			d = page.Deliveries[0]
		}
		return d.Attempts > 0
	})
	if d.State != storage.DeliveryPending || d.LastStatus != 0 || !strings.Contains(d.LastError, "target refused") || hits.Load() < 1 {
		t.Errorf("the delivery after a redirect to the metadata service: %+v (endpoint hit %d times)", d, hits.Load())
	}
}
