package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/memory"
)

// workWatch is a call store that remembers the summary work as the worker
// reports it: each failed attempt and the completing one.
type workWatch struct {
	storage.Store
	mu        sync.Mutex
	failures  []attempt
	completed []attempt
}

// attempt is one report of a work item: its attempt number and error.
type attempt struct {
	Attempts int
	Err      string
}

func (w *workWatch) FailWork(ctx context.Context, wk storage.Work, f storage.Failure) error {
	if wk.Kind == storage.WorkSummarizeCall {
		w.mu.Lock()
		w.failures = append(w.failures, attempt{wk.Attempts, f.Err})
		w.mu.Unlock()
	}
	return w.Store.FailWork(ctx, wk, f)
}

func (w *workWatch) CompleteSummary(ctx context.Context, wk storage.Work, s storage.Summary, analyze bool) error {
	w.mu.Lock()
	w.completed = append(w.completed, attempt{Attempts: wk.Attempts})
	w.mu.Unlock()
	return w.Store.CompleteSummary(ctx, wk, s, analyze)
}

func (w *workWatch) reports() (failures, completed []attempt) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]attempt(nil), w.failures...), append([]attempt(nil), w.completed...)
}

// cmpIgnoreCreatedAt compares summaries without their creation time.
var cmpIgnoreCreatedAt = cmpopts.IgnoreFields(storage.Summary{}, "CreatedAt")

// TestAssistantSummaryRetried shows the post-call summary as durable work:
// the model fails the summary twice, the worker retries with backoff, and
// the third attempt's summary is stored on the call with its structured
// fields and returned by the API.
func TestAssistantSummaryRetried(t *testing.T) {
	want := storage.Summary{
		Text:     "The caller asked whether a birthday cake could be ready on Saturday. The assistant promised a call back from the baker.",
		Reason:   "birthday cake order",
		Outcome:  "callback promised",
		FollowUp: true,
	}
	summaryJSON, err := json.Marshal(map[string]any{
		"summary": want.Text, "reason": want.Reason, "outcome": want.Outcome, "follow_up": want.FollowUp,
	})
	if err != nil {
		t.Fatal(err)
	}
	const said = "Can you make a birthday cake for Saturday?"
	const reply = "I will ask our baker to call you back about the cake."

	failures := []struct {
		name string
		fail modelAnswer
		// summaryTimeout is ASSISTANT_SUMMARY_TIMEOUT; a short one leaves
		// no time for a retry inside the attempt, so the worker retries.
		summaryTimeout time.Duration
		errWant        string
	}{
		{"ServerError", modelAnswer{Status: http.StatusInternalServerError}, 200 * time.Millisecond, "500"},
		{"NotJSON", modelAnswer{Text: "Sorry, I cannot summarize this call."}, time.Minute, "malformed"},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, fc := range failures {
				t.Run(fc.name+"TwiceStoredOnThirdAttempt", func(t *testing.T) {
					watch := &workWatch{Store: memory.New()}
					var summaries atomic.Int64
					r := startRig(t, b, func(n int, req modelRequest) modelAnswer {
						if !req.Summary {
							return modelAnswer{Text: reply}
						}
						if summaries.Add(1) <= 2 {
							return fc.fail
						}
						return modelAnswer{Text: string(summaryJSON)}
					}, func(c *service.Config, o *servicetest.Options) {
						c.Model.SummaryTimeout, c.Worker.SummaryTimeout = fc.summaryTimeout, fc.summaryTimeout
						o.Calls = watch
						o.NoWorkers = false
						c.Worker.Size = 1
						c.Worker.BackoffBase = 20 * time.Millisecond
						c.Worker.BackoffMax = 100 * time.Millisecond
					})
					call := r.answerCall(t)
					r.say(t, call, 1, said)
					if resp := r.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "31")); resp.Status != http.StatusNoContent {
						t.Fatalf("status callback: %d %s", resp.Status, resp.Body)
					}

					var got storage.Call
					servicetest.Eventually(t, 10*time.Second, "the summary stored", func() bool {
						got = r.GetCall(call.CallSID)
						return got.Summary != nil
					})
					if d := cmp.Diff(want, *got.Summary, cmpIgnoreCreatedAt); d != "" {
						t.Errorf("summary returned by the API (-want +got):\n%s", d)
					}
					if got.Summary.CreatedAt.IsZero() {
						t.Error("summary has no creation time")
					}

					failed, completed := watch.reports()
					if len(failed) != 2 || failed[0].Attempts != 1 || failed[1].Attempts != 2 {
						t.Errorf("failed attempts = %+v, want attempts 1 and 2", failed)
					}
					for _, f := range failed {
						if !strings.Contains(f.Err, fc.errWant) {
							t.Errorf("attempt %d recorded error %q, want it to mention %q", f.Attempts, f.Err, fc.errWant)
						}
					}
					if len(completed) != 1 || completed[0].Attempts != 3 {
						t.Errorf("completed = %+v, want one completion on attempt 3", completed)
					}
					if n := summaries.Load(); n != 3 {
						t.Errorf("model asked for %d summaries, want 3", n)
					}
					for _, kv := range []struct {
						outcome string
						want    float64
					}{{"retry", 2}, {"ok", 1}, {"failed", 0}} {
						if n := metricSum(t, r.Registry, "switchboard_work_total",
							map[string]string{"kind": string(storage.WorkSummarizeCall), "outcome": kv.outcome}); n != kv.want {
							t.Errorf("switchboard_work_total{outcome=%s} = %v, want %v", kv.outcome, n, kv.want)
						}
					}

					var transcript string
					for _, q := range r.model.requests() {
						if q.Summary {
							transcript = q.Messages[len(q.Messages)-1].Text
						}
					}
					for _, w := range []string{"Caller: " + said, "Assistant: " + reply, "Assistant: " + r.cfg.Greeting} {
						if !strings.Contains(transcript, w) {
							t.Errorf("summary request lacks %q:\n%s", w, transcript)
						}
					}
				})
			}
		})
	}
}
