package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"switchboard/assistant"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// taggedAssistant signs every reply with its instance's name, so two
// instances answering the same turn would say different things: if both
// answers were kept, or the caller heard one and the store kept the other,
// the test would see it.
type taggedAssistant struct {
	*assistant.Scripted
	tag string
}

func (a taggedAssistant) Greet(ctx context.Context, c assistant.Conversation) (assistant.Reply, error) {
	r, err := a.Scripted.Greet(ctx, c)
	r.Text += " (" + a.tag + ")"
	return r, err
}

func (a taggedAssistant) Reply(ctx context.Context, c assistant.Conversation) (assistant.Reply, error) {
	r, err := a.Scripted.Reply(ctx, c)
	r.Text += " (" + a.tag + ")"
	return r, err
}

// statusCounts tallies the HTTP statuses of every webhook a test sent.
type statusCounts struct {
	mu sync.Mutex
	n  map[int]int
}

func (s *statusCounts) add(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[int]int{}
	}
	s.n[status]++
}

// TestConcurrentCalls drives 40 calls at once across three instances, and
// delivers every webhook twice at the same moment to two different
// instances, as a Twilio retry racing its original would arrive. Each call
// must end with exactly its own turns, in order, with answers that both
// deliveries agree on; statuses only move forward; nothing deadlocks or
// fails.
func TestConcurrentCalls(t *testing.T) {
	const calls, turns = 40, 4
	c := startInstances(t, 3, pgtest.MigratedURL(t), clusterOptions{
		assistant: func(i int) assistant.Assistant {
			return taggedAssistant{Scripted: assistant.NewScripted(), tag: "instance " + strconv.Itoa(i)}
		},
	})
	var counts statusCounts

	// twice delivers form to instances i and i+1 at the same moment and
	// returns both answers.
	twice := func(i int, path string, form map[string][]string) ([2]reply, error) {
		var out [2]reply
		var errs [2]error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for d := range 2 {
			in := c.instances[(i+d)%len(c.instances)]
			wg.Go(func() {
				<-start
				out[d], errs[d] = post(context.Background(), in.URL, path, form)
			})
		}
		close(start)
		wg.Wait()
		for d := range 2 {
			if errs[d] != nil {
				return out, errs[d]
			}
			counts.add(out[d].status)
		}
		return out, nil
	}

	type result struct {
		call  twiliotest.Call
		said  []string
		heard []string // the assistant's lines in the TwiML, greeting first
	}
	results := make([]result, calls)
	var wg sync.WaitGroup
	for k := range calls {
		wg.Go(func() {
			res := &results[k]
			res.call = twiliotest.NewCall(servicetest.AccountSID)
			call := res.call
			fail := func(format string, args ...any) {
				t.Errorf("call %d (%s): %s", k, call.CallSID, fmt.Sprintf(format, args...))
			}
			// agree checks that both deliveries got the same successful answer.
			agree := func(what string, rs [2]reply, err error, want int) bool {
				switch {
				case err != nil:
					fail("%s: %v", what, err)
				case rs[0].status != want || rs[1].status != want:
					fail("%s: answered %d and %d (%q, %q), want %d", what, rs[0].status, rs[1].status, rs[0].body, rs[1].body, want)
				case rs[0].body != rs[1].body:
					fail("%s: the two deliveries got different answers:\n%s\n%s", what, rs[0].body, rs[1].body)
				default:
					return true
				}
				return false
			}

			rs, err := twice(k, "/twilio/voice", call.Form("CallStatus", "ringing"))
			if !agree("incoming call", rs, err, http.StatusOK) {
				return
			}
			res.heard = append(res.heard, sayText(rs[0].body))
			rs, err = twice(k+1, "/twilio/status", statusForm(call, "in-progress", 1))
			if !agree("status in-progress", rs, err, http.StatusNoContent) {
				return
			}
			for n := 1; n <= turns; n++ {
				said := fmt.Sprintf("Call %d turn %d: what are your opening hours?", k, n)
				rs, err := twice(k+n, "/twilio/gather?turn="+strconv.Itoa(n), turnForm(call, said))
				if !agree("turn "+strconv.Itoa(n), rs, err, http.StatusOK) {
					return
				}
				res.said = append(res.said, said)
				res.heard = append(res.heard, sayText(rs[0].body))
			}
			// The end of the call races a late, stale in-progress.
			var end sync.WaitGroup
			end.Go(func() {
				rs, err := twice(k+2, "/twilio/status", statusForm(call, "completed", 2))
				agree("status completed", rs, err, http.StatusNoContent)
			})
			end.Go(func() {
				rs, err := twice(k, "/twilio/status", statusForm(call, "in-progress", 1))
				agree("late status in-progress", rs, err, http.StatusNoContent)
			})
			end.Wait()
			// Once completed, an older status changes nothing.
			rs, err = twice(k+1, "/twilio/status", statusForm(call, "ringing", 0))
			agree("late status ringing", rs, err, http.StatusNoContent)
		})
	}
	wg.Wait()
	t.Logf("webhook answers by status: %v", counts.n)
	for status := range counts.n {
		if status != http.StatusOK && status != http.StatusNoContent {
			t.Errorf("%d webhooks answered %d", counts.n[status], status)
		}
	}
	if t.Failed() {
		return
	}

	for k, res := range results {
		got := mustCall(t, c.instances[k%3].Calls, res.call.CallSID)
		var gotSaid, gotHeard []string
		for i, tu := range got.Turns {
			wantNumber, wantRole := (i+1)/2, storage.RoleAssistant
			if i%2 == 1 {
				wantRole = storage.RoleCaller
			}
			if tu.Number != wantNumber || tu.Role != wantRole {
				t.Errorf("call %d: turn %d is %s #%d, want %s #%d", k, i, tu.Role, tu.Number, wantRole, wantNumber)
			}
			if tu.Role == storage.RoleCaller {
				gotSaid = append(gotSaid, tu.Text)
			} else {
				gotHeard = append(gotHeard, tu.Text)
			}
		}
		if !slices.Equal(gotSaid, res.said) {
			t.Errorf("call %d: caller turns stored %q, want %q", k, gotSaid, res.said)
		}
		if !slices.Equal(gotHeard, res.heard) {
			t.Errorf("call %d: assistant turns stored %q, but the caller heard %q", k, gotHeard, res.heard)
		}
		var timeline []storage.CallStatus
		for _, ev := range got.Timeline {
			timeline = append(timeline, ev.Status)
		}
		slices.Sort(timeline)
		want := []storage.CallStatus{storage.StatusCompleted, storage.StatusInProgress, storage.StatusRinging}
		if got.Status != storage.StatusCompleted || got.Duration != 42 || !slices.Equal(timeline, want) {
			t.Errorf("call %d: status %s, duration %d, timeline %v; want completed, 42, each status once", k, got.Status, got.Duration, timeline)
		}
	}
}

// sayText is the text of the first <Say> in a TwiML answer.
func sayText(twiml string) string {
	_, rest, ok := strings.Cut(twiml, "<Say")
	if !ok {
		return ""
	}
	_, rest, _ = strings.Cut(rest, ">")
	text, _, _ := strings.Cut(rest, "</Say>")
	return text
}
