package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/handlers/relaytest"
	"switchboard/runtime/lifecycle/imdstest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// drainLoad is what a drain under load measured.
type drainLoad struct {
	calls, turns, lost, doubled int
	reconnected                 int
	// longestWait is the longest time a caller waited after speaking for
	// the first word of the answer; baseline is the same before the drain.
	longestWait, baseline time.Duration
	// longestDropGap is the longest time from a socket's drop to the first
	// word on the new one.
	longestDropGap time.Duration
}

func (d drainLoad) String() string {
	return fmt.Sprintf("%d calls, %d caller turns: %d lost, %d doubled; %d calls moved; longest wait for an answer %s during the drain (%s before); longest silence after a drop %s",
		d.calls, d.turns, d.lost, d.doubled, d.reconnected, d.longestWait.Round(time.Millisecond), d.baseline.Round(time.Millisecond), d.longestDropGap.Round(time.Millisecond))
}

// runDrainLoad runs calls streamed calls on A, each asking questions
// turns times; after warm turns each, drain(A) runs. Every socket that
// moves goes to B. It checks each call's stored transcript against what
// its caller said and heard, and returns the figures.
func runDrainLoad(t *testing.T, a, b *servicetest.Instance, calls, turns, warm int, drain func()) drainLoad {
	t.Helper()
	questions := []string{"What are your opening hours?", "Where are you located?", "How much does it cost?",
		"Can I book an appointment?", "Can I speak to a person?", "Yes please."}
	lb := &balancer{instances: []*servicetest.Instance{a, b}}
	type result struct {
		sid         string
		said, heard []string
		waits       []time.Duration
		drainedAt   int // the turn during which the drain began
		sess        *relaytest.Session
		err         error
	}
	results := make([]*result, calls)
	var warmed, drained sync.WaitGroup
	warmed.Add(calls)
	drained.Add(1)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for i := range calls {
		call, s := startRelayCall(t, lb, a, onlyDrops)
		r := &result{sid: call.CallSID, sess: s, drainedAt: -1}
		results[i] = r
		wg.Go(func() {
			for k := range turns {
				if k == warm {
					warmed.Done()
					drained.Wait()
				}
				q := questions[(i+k)%len(questions)]
				start := time.Now()
				if err := s.Prompt(ctx, q); err != nil {
					r.err = fmt.Errorf("turn %d: %w", k+1, err)
					return
				}
				text, frames, err := s.Reply(ctx, 30*time.Second)
				if err != nil {
					r.err = fmt.Errorf("turn %d: %w", k+1, err)
					return
				}
				first := time.Now()
				for _, f := range frames {
					if f.Type == "text" && f.Token != "" {
						first = f.At
						break
					}
				}
				r.said, r.heard, r.waits = append(r.said, q), append(r.heard, text), append(r.waits, first.Sub(start))
				// The caller listens, then thinks a little.
				time.Sleep(time.Duration(20+(i*7+k*13)%60) * time.Millisecond)
			}
			s.Close()
		})
	}
	warmed.Wait()
	// Drain while the next turn of every call is in flight.
	drained.Done()
	time.Sleep(30 * time.Millisecond)
	drain()
	wg.Wait()

	var d drainLoad
	d.calls = calls
	for _, r := range results {
		if r.err != nil {
			t.Errorf("call %s: %v", r.sid, r.err)
		}
		d.turns += turns
		stored := waitStored(t, b, r.sid, 1+2*len(r.said))
		callerSaid, asstSaid := map[int]int{}, map[int]string{}
		for _, tu := range stored.Turns {
			if tu.Role == "caller" {
				callerSaid[tu.Number]++
			} else {
				asstSaid[tu.Number] = tu.Text
			}
		}
		for k := range turns {
			switch n := callerSaid[k+1]; {
			case k >= len(r.said) || n == 0:
				d.lost++
			case n > 1:
				d.doubled++
			}
			if k < len(r.heard) && asstSaid[k+1] != r.heard[k] {
				t.Errorf("call %s turn %d: stored reply %q, caller heard %q", r.sid, k+1, asstSaid[k+1], r.heard[k])
			}
		}
		if len(stored.Turns) != 1+2*turns {
			t.Errorf("call %s: %d turns stored, want %d: %v", r.sid, len(stored.Turns), 1+2*turns, transcriptOf(stored))
		}
		if r.sess.Reconnections() > 0 {
			d.reconnected++
		}
		for k, w := range r.waits {
			if k < warm {
				d.baseline = max(d.baseline, w)
			} else {
				d.longestWait = max(d.longestWait, w)
			}
		}
		for _, g := range r.sess.Gaps() {
			d.longestDropGap = max(d.longestDropGap, g)
		}
	}
	return d
}

// TestRelayDrainUnderLoad drains an instance holding 20 streamed calls,
// each in the middle of a conversation with a reply streaming, on both
// paths an instance leaves service by: SIGTERM, and the Auto Scaling
// group taking it out (the instance metadata's target lifecycle state
// turns Terminated, before any SIGTERM). Every call must carry on on the
// other instance with no caller turn lost or doubled. The figures are
// logged; the test asserts no speed.
func TestRelayDrainUnderLoad(t *testing.T) {
	const calls, turns, warm = 20, 4, 2
	t.Run("SIGTERM", func(t *testing.T) {
		c, _ := relayCluster(t, 2, 20*time.Millisecond, func(_ int, c *service.Config) { c.HTTP.DrainDelay = 300 * time.Millisecond })
		a, b := c.instances[0], c.instances[1]
		var terminated sync.WaitGroup
		d := runDrainLoad(t, a, b, calls, turns, warm, func() { terminated.Go(a.Terminate) })
		terminated.Wait()
		checkDrain(t, d, calls, a.Registry)
	})
	t.Run("SIGTERMCuttingReplies", func(t *testing.T) {
		// The talk wait (50 ms) is shorter than the replies (about 300
		// ms): every reply in flight is cut, and the instance that takes
		// the call over says it again.
		c, _ := relayCluster(t, 2, 20*time.Millisecond, func(_ int, c *service.Config) {
			c.HTTP.DrainDelay, c.Relay.DrainTalkWait = 300*time.Millisecond, 50*time.Millisecond
		})
		a, b := c.instances[0], c.instances[1]
		var terminated sync.WaitGroup
		d := runDrainLoad(t, a, b, calls, turns, warm, func() { terminated.Go(a.Terminate) })
		terminated.Wait()
		checkDrain(t, d, calls, a.Registry)
		if n := metricTotal(t, b.Registry, "switchboard_relay_takeovers_total", "resumed") + metricTotal(t, a.Registry, "switchboard_relay_takeovers_total", "reply_cut"); n == 0 {
			t.Error("no reply was cut and resumed: the talk wait did not expire")
		}
	})
	t.Run("Deregistration", func(t *testing.T) {
		imds := imdstest.New()
		t.Cleanup(imds.Close)
		// Only A is taken out; each instance has its own metadata service.
		c, _ := relayCluster(t, 2, 20*time.Millisecond, func(i int, c *service.Config) {
			if i == 0 {
				c.Lifecycle.PollInterval, c.Lifecycle.IMDSEndpoint = 50*time.Millisecond, imds.URL
			}
		})
		a, b := c.instances[0], c.instances[1]
		d := runDrainLoad(t, a, b, calls, turns, warm, func() { imds.SetState("Terminated") })
		if r := a.Do(mustGet(t, a.URL+"/readyz")); r.Status != http.StatusServiceUnavailable {
			t.Errorf("readiness of the instance taken out = %d, want 503", r.Status)
		}
		checkDrain(t, d, calls, a.Registry)
	})
}

func checkDrain(t *testing.T, d drainLoad, calls int, reg prometheus.Gatherer) {
	t.Helper()
	t.Logf("drain under load: %s", d)
	if d.lost != 0 || d.doubled != 0 {
		t.Errorf("%d caller turns lost, %d doubled; want none", d.lost, d.doubled)
	}
	if d.reconnected != calls {
		t.Errorf("%d of %d calls moved to the other instance", d.reconnected, calls)
	}
	if n := gaugeValue(t, reg, "switchboard_relay_sessions"); n != 0 {
		t.Errorf("the drained instance still holds %v sockets", n)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// gaugeValue is the value of an unlabelled gauge.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetGauge() != nil {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestRelayDrainWithoutApplicationReconnect: without applicationReconnect
// a dropped socket cannot come back, so a draining instance keeps its
// streamed calls, says it waits for them (readiness, the
// switchboard_relay_drain_waiting_calls gauge), and stops once they end,
// or at RELAY_DRAIN_CALL_WAIT, when it drops the rest: their session
// fails and <Connect action> carries them on with <Gather> elsewhere.
func TestRelayDrainWithoutApplicationReconnect(t *testing.T) {
	const bound = 3 * time.Second
	c, _ := relayCluster(t, 2, 0, func(i int, c *service.Config) {
		c.Relay.ApplicationReconnect, c.Relay.DrainCallWait = false, bound
	})
	a, b := c.instances[0], c.instances[1]
	lb := &balancer{instances: c.instances}
	never := func(int) bool { return false }
	_, ending := startRelayCall(t, lb, a, never)
	staying, s := startRelayCall(t, lb, a, never)
	ctx := t.Context()

	began := time.Now()
	done := make(chan struct{})
	go func() { a.Terminate(); close(done) }()
	servicetest.Eventually(t, 5*time.Second, "the drain to count the calls it waits for", func() bool {
		return gaugeValue(t, a.Registry, "switchboard_relay_drain_waiting_calls") == 2
	})
	// The calls go on on the draining instance.
	if err := s.Prompt(ctx, "What are your opening hours?"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reply(ctx, 10*time.Second); err != nil {
		t.Fatalf("a call on the draining instance: %v", err)
	}
	select {
	case <-done:
		t.Fatal("the instance stopped while its streamed calls were live")
	default:
	}
	ending.Close()
	servicetest.Eventually(t, 5*time.Second, "the ended call to leave", func() bool { return a.Server.RelaySessions() == 1 })

	// The other call outlives the bound: dropped, its session ends.
	select {
	case <-done:
	case <-time.After(bound + 20*time.Second):
		t.Fatal("the drain outlived its bound")
	}
	t.Logf("drain without applicationReconnect stopped after %s (bound %s)", time.Since(began).Round(time.Millisecond), bound)
	if _, _, err := s.Reply(ctx, 5*time.Second); err == nil || s.Ended() == nil {
		t.Fatalf("the call still open at the bound was not dropped (%v)", err)
	}
	r := b.Webhook("/twilio/relay/action", actionForm(staying, "SessionStatus", "failed", "ErrorCode", "64105"))
	if _, next := parseGather(t, r.Body); next != 2 {
		t.Errorf("action after the drop = %s; want the call carried on with <Gather> at turn 2", r.Body)
	}
	if n := gaugeValue(t, a.Registry, "switchboard_relay_drain_waiting_calls"); n != 0 {
		t.Errorf("waiting calls after the drain = %v, want 0", n)
	}
}

// metricTotal is a counter's value for one label value.
func metricTotal(t *testing.T, reg prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label && m.GetCounter() != nil {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestRelayDrainCloseCodes runs each RELAY_DRAIN_CLOSE against both
// things Twilio may do with that ending (its docs say only that
// "unexpected" drops are reconnected): reconnect, and the call goes on
// streamed on the other instance; or end the session, and <Connect
// action> carries the call on with <Gather>. Either way the caller's next
// words are answered with the call's history.
func TestRelayDrainCloseCodes(t *testing.T) {
	script := newHistoryProbe(0).Scripted
	for mode, code := range map[string]int{"drop": 1006, "going_away": 1001, "service_restart": 1012} {
		for _, twilioReconnects := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/reconnect=%v", mode, twilioReconnects), func(t *testing.T) {
				c, probes := relayCluster(t, 2, 0, func(_ int, c *service.Config) { c.Relay.DrainClose = mode })
				a, b := c.instances[0], c.instances[1]
				lb := &balancer{instances: c.instances}
				var closedWith int
				var mu sync.Mutex
				policy := func(got int) bool {
					mu.Lock()
					closedWith = got
					mu.Unlock()
					return twilioReconnects
				}
				call, s := startRelayCall(t, lb, a, policy)
				ctx := t.Context()
				if err := s.Prompt(ctx, "What are your opening hours?"); err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.Reply(ctx, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				waitStored(t, a, call.CallSID, 3)
				a.Server.Drain()
				if twilioReconnects {
					servicetest.Eventually(t, 10*time.Second, "the reconnection", func() bool { return s.Reconnections() == 1 })
					if err := s.Prompt(ctx, "Where are you located?"); err != nil {
						t.Fatal(err)
					}
					if text, _, err := s.Reply(ctx, 10*time.Second); err != nil || text != script.Rules[1].Answer {
						t.Fatalf("after the reconnection: %q, %v", text, err)
					}
				} else {
					servicetest.Eventually(t, 10*time.Second, "the session to end", func() bool { return s.Ended() != nil })
					r := b.Webhook("/twilio/relay/action", actionForm(call, "SessionStatus", "failed", "ErrorCode", "64105"))
					if _, next := parseGather(t, r.Body); next != 2 {
						t.Fatalf("action = %s; want <Gather> for turn 2", r.Body)
					}
					r = b.Webhook("/twilio/gather?turn=2", turnForm(call, "Where are you located?"))
					if d, _ := parseGather(t, r.Body); d.Gather.Say != script.Rules[1].Answer {
						t.Fatalf("gather turn 2 = %s", r.Body)
					}
				}
				mu.Lock()
				got := closedWith
				mu.Unlock()
				if got != code {
					t.Errorf("the draining socket closed with %d, want %d", got, code)
				}
				if h := probes[1].histories(call.CallSID); len(h) != 1 || h[0] != 4 {
					t.Errorf("B answered with histories %v, want one reply given all 4 turns", h)
				}
			})
		}
	}
}
