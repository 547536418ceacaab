package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// TestRetentionLateWebhooks runs the service with RETENTION_DAYS=30 on each
// store: the workers delete a call older than that, and what Twilio sends
// about it afterwards (a late status callback, a retried gather, a
// recording callback) stores nothing and brings nothing back, while a
// newer call is untouched.
func TestRetentionLateWebhooks(t *testing.T) {
	for _, st := range callStores {
		t.Run(st.name, func(t *testing.T) {
			// No worker loop: its first retention round would race the
			// seeding below; Drain runs the round when the calls are in.
			in := servicetest.Start(t, servicetest.Options{Calls: st.open(t), NoWorkers: true, Configure: func(c *service.Config) {
				c.Worker.RetentionDays = 30
			}})
			ctx := t.Context()
			old := twiliotest.NewCall(servicetest.AccountSID)
			recent := twiliotest.NewCall(servicetest.AccountSID)
			for _, c := range []struct {
				call twiliotest.Call
				age  time.Duration
			}{{old, 31 * 24 * time.Hour}, {recent, 29 * 24 * time.Hour}} {
				nc := storage.NewCall{SID: c.call.CallSID, AccountSID: c.call.AccountSID, From: c.call.From, To: c.call.To, At: time.Now().Add(-c.age)}
				if _, _, err := in.Calls.StartCall(ctx, nc, storage.Turn{Role: storage.RoleAssistant, Text: "Hello!"}); err != nil {
					t.Fatal(err)
				}
				if _, err := in.Calls.ApplyStatus(ctx, nc, storage.StatusEvent{Status: storage.StatusCompleted, At: nc.At.Add(time.Minute), Sequence: -1}); err != nil {
					t.Fatal(err)
				}
			}
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			in.Workers.Drain(dctx)
			if r := in.API(http.MethodGet, "/api/v1/calls/"+old.CallSID); r.Status != http.StatusNotFound {
				t.Fatalf("GET the expired call: %d %s", r.Status, r.Body)
			}
			if c := in.GetCall(recent.CallSID); c.Status != storage.StatusCompleted || len(c.Turns) != 1 {
				t.Errorf("the call inside the window changed: %+v", c)
			}

			if r := in.Webhook("/twilio/status", old.Form("CallStatus", "completed", "CallDuration", "60")); r.Status != http.StatusNoContent {
				t.Errorf("late status callback: %d %s, want 204", r.Status, r.Body)
			}
			if r := in.Webhook("/twilio/gather?turn=1", old.Form("SpeechResult", "hello?")); r.Status != http.StatusOK || !strings.Contains(r.Body, "<Hangup") {
				t.Errorf("late gather: %d %s, want a hang-up", r.Status, r.Body)
			}
			rec := old.Form("RecordingSid", "RE0123456789abcdef0123456789abcdef", "RecordingStatus", "completed",
				"RecordingUrl", in.Media.RecordingURL("RE0123456789abcdef0123456789abcdef"), "RecordingDuration", "5")
			if r := in.Webhook("/twilio/recording", rec); r.Status != http.StatusNoContent {
				t.Errorf("late recording callback: %d %s, want 204", r.Status, r.Body)
			}
			if r := in.API(http.MethodGet, "/api/v1/calls/"+old.CallSID); r.Status != http.StatusNotFound {
				t.Errorf("a late webhook brought the expired call back: %d %s", r.Status, r.Body)
			}
			page, err := in.Calls.ListCalls(ctx, storage.CallFilter{Limit: 10})
			if err != nil || len(page.Calls) != 1 {
				t.Errorf("calls stored after the late webhooks: %d %v; want the recent one only", len(page.Calls), err)
			}
		})
	}
}
