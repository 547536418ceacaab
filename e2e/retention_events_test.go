package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// TestRetentionPurgesEventDeliveries: with RETENTION_DAYS, the workers
// delete the event deliveries older than the window in the same rounds as
// the calls, and keep the newer ones.
func TestRetentionPurgesEventDeliveries(t *testing.T) {
	dbURL := pgtest.MigratedURL(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	retain := func(c *service.Config) { c.Worker.RetentionDays = 30 }

	first := servicetest.Start(t, servicetest.Options{Calls: mustOpen(t, storeConfig(dbURL)), Configure: retain})
	resp := first.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "`+receiver.URL+`/events", "events": ["call.started"]}`)
	if resp.Status != http.StatusCreated {
		t.Fatalf("POST /api/v1/webhooks: %d %s", resp.Status, resp.Body)
	}
	var ep storage.Endpoint
	if err := json.Unmarshal([]byte(resp.Body), &ep); err != nil {
		t.Fatal(err)
	}
	deliveries := func(in *servicetest.Instance) []storage.Delivery {
		r := in.API(http.MethodGet, "/api/v1/webhooks/"+ep.ID+"/deliveries")
		if r.Status != http.StatusOK {
			t.Fatalf("GET deliveries: %d %s", r.Status, r.Body)
		}
		var page struct{ Deliveries []storage.Delivery }
		if err := json.Unmarshal([]byte(r.Body), &page); err != nil {
			t.Fatal(err)
		}
		return page.Deliveries
	}
	calls := []twiliotest.Call{twiliotest.NewCall(servicetest.AccountSID), twiliotest.NewCall(servicetest.AccountSID)}
	for _, c := range calls {
		if r := first.Webhook("/twilio/voice", c.Form("CallStatus", "ringing")); r.Status != http.StatusOK {
			t.Fatalf("incoming call: %d %s", r.Status, r.Body)
		}
	}
	servicetest.Eventually(t, 20*time.Second, "both call.started events delivered", func() bool {
		d := deliveries(first)
		return len(d) == 2 && d[0].State == storage.DeliveryDelivered && d[1].State == storage.DeliveryDelivered
	})
	first.StopWorkers()

	// The first call's delivery (and its event) made 40 days ago.
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	old := time.Now().Add(-40 * 24 * time.Hour)
	for _, q := range []string{
		`UPDATE events SET created_at = $2 WHERE call_sid = $1`,
		`UPDATE deliveries SET created_at = $2 WHERE event_id IN (SELECT id FROM events WHERE call_sid = $1)`,
	} {
		if _, err := conn.Exec(t.Context(), q, calls[0].CallSID, old); err != nil {
			t.Fatal(err)
		}
	}

	// A new instance's workers run a retention round as they start.
	second := servicetest.Start(t, servicetest.Options{Calls: mustOpen(t, storeConfig(dbURL)), Configure: retain})
	servicetest.Eventually(t, 30*time.Second, "the old delivery purged", func() bool {
		return len(deliveries(second)) == 1
	})
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE call_sid = $1`, calls[1].CallSID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 1 {
		t.Errorf("the newer call's event: %d rows, want 1", left)
	}
}
