package redact_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/memory"
	"switchboard/storage/redact"
)

const storeCall = "CA0123456789abcdef0123456789abcd01"

func TestStoreKeepsRedacted(t *testing.T) {
	inner := memory.New()
	s := redact.NewStore(inner)
	if redact.NewStore(s) != s {
		t.Fatal("wrapping a redacting store again wrapped it twice")
	}
	ctx := t.Context()
	nc := storage.NewCall{SID: storeCall, AccountSID: "AC0123456789abcdef0123456789abcdef", From: "+14155550132", To: "+14155550100", At: time.Now()}
	greeting := "Hello, this is Acme on 415-555-0100."
	if _, _, err := s.StartCall(ctx, nc, storage.Turn{CallSID: storeCall, Role: storage.RoleAssistant, Text: greeting}); err != nil {
		t.Fatal(err)
	}
	st, err := s.BeginTurn(ctx, nc, storage.Turn{Number: 1, Text: "my card is 4111 1111 1111 1111", Confidence: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if last := st.Turns[len(st.Turns)-1]; last.Text != "my card is [card]" {
		t.Errorf("BeginTurn returned the caller's turn as %q, want it as stored", last.Text)
	}
	reply := storage.Turn{CallSID: storeCall, Number: 1, Role: storage.RoleAssistant, Text: "Noted 4111 1111 1111 1111; we'll mail jane@example.com.",
		Error: "", ToolCalls: []storage.ToolCall{{ID: "c1", Name: "book", Arguments: json.RawMessage(`{"phone":"415-555-0132"}`),
			Result: json.RawMessage(`{"ok":true,"ssn":"078-05-1120"}`), Error: "refused 415 555 0132"}}}
	if _, _, err := s.AddTurn(ctx, reply); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InterruptTurn(ctx, storeCall, 1, "Noted 4111 1111 1111 1111"); err != nil {
		t.Fatal(err)
	}
	// Read back from the inner store: what is really kept.
	c, err := inner.GetCall(ctx, storeCall)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, tr := range c.Turns {
		b, _ := json.Marshal(tr)
		all = append(all, string(b))
	}
	kept := strings.Join(all, "\n")
	for _, secret := range []string{"4111 1111", "jane@example.com", "555-0132", "555 0132", "078-05-1120"} {
		if strings.Contains(kept, secret) {
			t.Errorf("the store kept %q:\n%s", secret, kept)
		}
	}
	for _, want := range []string{"my card is [card]", `Noted [card]`, `"arguments":{"phone":"[phone]"}`, `"ssn":"[ssn]"`, "refused [phone]", greeting} {
		if !strings.Contains(kept, want) {
			t.Errorf("the store did not keep %q:\n%s", want, kept)
		}
	}
}

func TestStoreRedactsSummaryAndAnalysis(t *testing.T) {
	inner := memory.New()
	s := redact.NewStore(inner)
	ctx := t.Context()
	nc := storage.NewCall{SID: storeCall, From: "+14155550132", To: "+14155550100", At: time.Now()}
	if _, err := s.ApplyStatus(ctx, nc, storage.StatusEvent{Status: storage.StatusCompleted, At: time.Now(), Sequence: -1}); err != nil {
		t.Fatal(err)
	}
	w, ok, err := s.ClaimWork(ctx, time.Now(), time.Minute)
	if err != nil || !ok || w.Kind != storage.WorkSummarizeCall {
		t.Fatalf("claim: %+v %v %v", w, ok, err)
	}
	if err := s.FailWork(ctx, w, storage.Failure{Err: "provider echoed 4111111111111111", RetryAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w, _, _ = s.ClaimWork(ctx, time.Now(), time.Minute)
	if w.LastError != "provider echoed [card]" {
		t.Errorf("work error kept as %q", w.LastError)
	}
	sum := storage.Summary{Text: "Caller gave card 4111 1111 1111 1111 and asked for a call on 415-555-0132.", Reason: "billing, jane@example.com", Outcome: "ok", CreatedAt: time.Now()}
	if err := s.CompleteSummary(ctx, w, sum, true); err != nil {
		t.Fatal(err)
	}
	w, ok, err = s.ClaimWork(ctx, time.Now(), time.Minute)
	if err != nil || !ok || w.Kind != storage.WorkAnalyzeCall {
		t.Fatalf("claim the analysis: %+v %v %v", w, ok, err)
	}
	fields := json.RawMessage(`{"callback_number":"415-555-0132","card":4111111111111111,"booked":true,"party":4}`)
	if err := s.CompleteAnalysis(ctx, w, storage.Analysis{Fields: fields, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err := inner.GetCall(ctx, storeCall)
	if err != nil {
		t.Fatal(err)
	}
	if c.Summary == nil || c.Summary.Text != "Caller gave card [card] and asked for a call on [phone]." || c.Summary.Reason != "billing, [email]" {
		t.Errorf("summary kept as %+v", c.Summary)
	}
	if c.Analysis == nil || string(c.Analysis.Fields) != `{"callback_number":"[phone]","card":"[card]","booked":true,"party":4}` {
		t.Errorf("analysis kept as %+v", c.Analysis)
	}
}
