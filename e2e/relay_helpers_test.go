package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/handlers/relaytest"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres/pgtest"
)

// historyProbe is the scripted assistant, recording for each streamed
// reply how many turns of history it was given, by call.
type historyProbe struct {
	*assistant.Scripted
	mu   sync.Mutex
	seen map[string][]int
}

func newHistoryProbe(wordDelay time.Duration) *historyProbe {
	s := assistant.NewScripted()
	s.WordDelay, s.MaxTurns = wordDelay, 0
	return &historyProbe{Scripted: s, seen: map[string][]int{}}
}

func (p *historyProbe) Stream(ctx context.Context, c assistant.Conversation, sink assistant.Sink) (assistant.StreamReply, error) {
	p.mu.Lock()
	p.seen[c.CallSID] = append(p.seen[c.CallSID], len(c.Turns))
	p.mu.Unlock()
	return p.Scripted.Stream(ctx, c, sink)
}

func (p *historyProbe) Reply(ctx context.Context, c assistant.Conversation) (assistant.Reply, error) {
	p.mu.Lock()
	p.seen[c.CallSID] = append(p.seen[c.CallSID], len(c.Turns))
	p.mu.Unlock()
	return p.Scripted.Reply(ctx, c)
}

// histories is what the probe saw for a call.
func (p *historyProbe) histories(sid string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.seen[sid]...)
}

// relayCluster starts n relay-mode instances on one fresh database, each
// with its own probe (so a test can tell which instance answered); tune
// adjusts instance i's configuration.
func relayCluster(t *testing.T, n int, wordDelay time.Duration, tune func(i int, c *service.Config)) (*cluster, []*historyProbe) {
	t.Helper()
	probes := make([]*historyProbe, n)
	for i := range probes {
		probes[i] = newHistoryProbe(wordDelay)
	}
	c := startInstances(t, n, pgtest.MigratedURL(t), clusterOptions{
		assistant: func(i int) assistant.Assistant { return probes[i] },
		configureEach: func(i int, c *service.Config) {
			c.CallMode = handlers.ModeRelay
			c.Relay.ResumeAfter = 300 * time.Millisecond
			c.Relay.DrainTalkWait = 5 * time.Second
			if tune != nil {
				tune(i, c)
			}
		},
	})
	return c, probes
}

// balancer stands for the load balancer in front of the instances: each
// new socket goes to the next instance in turn, skipping those that refuse
// the upgrade (a draining instance answers 503, as a deregistered target
// gets no new connection). first pins the first socket of a call.
type balancer struct {
	instances []*servicetest.Instance
	next      atomic.Int64
}

func (b *balancer) dial(sid string, first *servicetest.Instance) func(ctx context.Context) (*relaytest.Client, error) {
	var used atomic.Bool
	return func(ctx context.Context) (*relaytest.Client, error) {
		targets := b.instances
		if first != nil && !used.Swap(true) {
			targets = []*servicetest.Instance{first}
		}
		var last error
		for range targets {
			in := targets[int(b.next.Add(1))%len(targets)]
			h := http.Header{}
			h.Set("X-Twilio-Signature", relaytest.Sign(servicetest.AuthToken, "wss://switchboard.example.com/twilio/relay/"+sid))
			c, resp, err := relaytest.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/twilio/relay/"+sid, h)
			if err == nil {
				return c, nil
			}
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			last = fmt.Errorf("dial %s: %v (HTTP %d)", in.URL, err, status)
		}
		return nil, last
	}
}

// startRelayCall posts the incoming call to in and opens its session
// there; later sockets go wherever the balancer sends them.
func startRelayCall(t *testing.T, b *balancer, in *servicetest.Instance, reconnects func(int) bool) (twiliotest.Call, *relaytest.Session) {
	t.Helper()
	return startRelayCallWith(t, b, in, reconnects, true)
}

// startRelayCallWith is startRelayCall choosing whether Twilio sends setup
// again on a reconnected socket (its docs do not say).
func startRelayCallWith(t *testing.T, b *balancer, in *servicetest.Instance, reconnects func(int) bool, setupAgain bool) (twiliotest.Call, *relaytest.Session) {
	t.Helper()
	call := twiliotest.NewCall(servicetest.AccountSID)
	r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	if r.Status != http.StatusOK {
		t.Fatalf("incoming call: %d %s", r.Status, r.Body)
	}
	var doc struct {
		Connect struct {
			Relay struct {
				Reconnect string `xml:"applicationReconnect,attr"`
			} `xml:"ConversationRelay"`
		} `xml:"Connect"`
	}
	want := ""
	if in.Service.Config.Relay.ApplicationReconnect {
		want = "true"
	}
	if err := xml.Unmarshal([]byte(r.Body), &doc); err != nil || doc.Connect.Relay.Reconnect != want {
		t.Fatalf("incoming-call TwiML: applicationReconnect=%q, want %q (%v): %s", doc.Connect.Relay.Reconnect, want, err, r.Body)
	}
	s := &relaytest.Session{CallSID: call.CallSID, AccountSID: call.AccountSID, From: call.From, To: call.To,
		Dial: b.dial(call.CallSID, in), Reconnects: reconnects, SetupOnReconnect: setupAgain}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("opening the session: %v", err)
	}
	t.Cleanup(s.Close)
	return call, s
}

// onlyDrops reconnects after a drop without a close frame (1006) only.
func onlyDrops(code int) bool { return code == 1006 }

// transcriptOf is a call's turns as "N role text" lines.
func transcriptOf(c storage.Call) []string {
	var out []string
	for _, t := range c.Turns {
		out = append(out, fmt.Sprintf("%d %s %s", t.Number, t.Role, t.Text))
	}
	return out
}
