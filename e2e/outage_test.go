package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage/postgres/pgtest"
)

// answerBound is far beyond every timeout on the request path (store
// queries, connects, the request's own budget): a webhook still unanswered
// after it is hung, not slow. Twilio gives up after 15 s.
const answerBound = 10 * time.Second

// acked is a write the service acknowledged with a 2xx: it must be in the
// database afterwards.
type acked struct {
	callSID string
	path    string // /twilio/voice, /twilio/status or /twilio/gather
	status  string // the status a status callback reported
	turn    int    // the turn a gather answered
}

// load is a steady stream of whole calls against one instance, each step
// retried after a 503 as Twilio's retry (or the caller calling back) would.
type load struct {
	t      *testing.T
	url    string
	stop   chan struct{}
	wg     sync.WaitGroup
	counts statusCounts

	mu          sync.Mutex
	acks        []acked
	unavailable int
	slowest     time.Duration
}

func startLoad(t *testing.T, url string, workers int) *load {
	l := &load{t: t, url: url, stop: make(chan struct{})}
	for range workers {
		l.wg.Go(l.run)
	}
	t.Cleanup(l.halt)
	return l
}

// halt stops the stream and waits for it; calling it again does nothing.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *load) run() {
	for !l.stopped() {
		call := twiliotest.NewCall(servicetest.AccountSID)
		steps := []acked{{path: "/twilio/voice"}, {path: "/twilio/status", status: "in-progress"}}
		for n := 1; n <= 3; n++ {
			steps = append(steps, acked{path: "/twilio/gather", turn: n})
		}
		steps = append(steps, acked{path: "/twilio/status", status: "completed"})
		for _, step := range steps {
			step.callSID = call.CallSID
			if !l.deliver(call, step) {
				return
			}
		}
	}
}

// deliver sends one step until it is acknowledged; false when the load
// stops first or the answer breaks the rules.
func (l *load) deliver(call twiliotest.Call, step acked) bool {
	path, form, want := step.path, call.Form("CallStatus", "ringing"), http.StatusOK
	switch {
	case step.status != "":
		form, want = statusForm(call, step.status, 1), http.StatusNoContent
	case step.turn > 0:
		path += "?turn=" + strconv.Itoa(step.turn)
		form = turnForm(call, fmt.Sprintf("Turn %d: where are you located?", step.turn))
	}
	for !l.stopped() {
		r, err := post(context.Background(), l.url, path, form)
		if err != nil {
			l.t.Errorf("%s: %v", path, err)
			return false
		}
		l.counts.add(r.status)
		l.mu.Lock()
		l.slowest = max(l.slowest, r.took)
		l.mu.Unlock()
		if r.took > answerBound {
			l.t.Errorf("%s answered after %v, past %v", path, r.took, answerBound)
		}
		switch {
		case r.status == want:
			l.mu.Lock()
			l.acks = append(l.acks, step)
			l.mu.Unlock()
			return true
		case r.status == http.StatusServiceUnavailable && r.retryAfter != "":
			l.mu.Lock()
			l.unavailable++
			l.mu.Unlock()
			time.Sleep(20 * time.Millisecond) // Twilio's retry comes a little later
		default:
			l.t.Errorf("%s answered %d (Retry-After %q) %s; want %d, or 503 with Retry-After", path, r.status, r.retryAfter, r.body, want)
			return false
		}
	}
	return false
}

func (l *load) progress() (acks, unavailable int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks), l.unavailable
}

// waitFor polls until cond holds on the load's progress.
func (l *load) waitFor(what string, cond func(acks, unavailable int) bool) {
	l.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a, u := l.progress()
		if cond(a, u) {
			return
		}
		if time.Now().After(deadline) || l.t.Failed() {
			l.t.Fatalf("waiting for %s: %d acknowledged, %d unavailable so far", what, a, u)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDatabaseRestartUnderLoad restarts the database, cleanly and by a
// crash, under a steady stream of webhooks. While it is down the webhooks
// answer quickly with 503 and Retry-After (never a 500, never a hang) and
// /readyz says 503; once it is back, service and readiness resume without a
// restart of the instance, and every write that was acknowledged is there.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	// Commits are acknowledged only once durable, as in production.
	c := pgtest.StartCluster(t, pgtest.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	dbURL := c.MigratedURL(t)
	cfg := storeConfig(dbURL)
	cfg.ConnectTimeout, cfg.QueryTimeout = time.Second, 2*time.Second
	in := servicetest.Start(t, servicetest.Options{Calls: mustOpen(t, cfg)})
	l := startLoad(t, in.URL, 4)
	l.waitFor("traffic before the outage", func(a, _ int) bool { return a >= 40 })

	readiness := func(want int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			r, err := get(t.Context(), in.URL, "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			if r.took > answerBound {
				t.Errorf("/readyz answered after %v", r.took)
			}
			if r.status == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still %d a minute on, want %d: %s", r.status, want, r.body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	for _, restart := range []struct {
		name string
		down func() error
	}{
		{"FastShutdown", c.Stop},
		{"Crash", c.Kill},
	} {
		t.Run(restart.name, func(t *testing.T) {
			_, unavailableBefore := l.progress()
			if err := restart.down(); err != nil {
				t.Fatalf("stopping the database: %v", err)
			}
			down := time.Now()
			readiness(http.StatusServiceUnavailable)
			// The outage lasts a few seconds, long enough for many
			// webhooks to be refused.
			l.waitFor("webhooks refused during the outage", func(_, u int) bool {
				return u >= unavailableBefore+20 && time.Since(down) >= 3*time.Second
			})
			acksBefore, _ := l.progress()
			if err := c.Start(); err != nil {
				t.Fatalf("restarting the database: %v", err)
			}
			readiness(http.StatusOK)
			l.waitFor("traffic after the outage", func(a, _ int) bool { return a >= acksBefore+40 })
		})
	}
	l.halt()

	t.Run("NoAcknowledgedWriteMissing", func(t *testing.T) {
		t.Logf("answers by status: %v; slowest %v", l.counts.n, l.slowest)
		if l.counts.n[http.StatusServiceUnavailable] == 0 {
			t.Fatal("no webhook met the outage")
		}
		conn, err := pgx.Connect(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		missing := 0
		for _, a := range l.acks {
			var q string
			args := []any{a.callSID}
			switch {
			case a.status != "":
				q, args = `SELECT count(*) FROM call_status_events e JOIN calls c ON c.sid = e.call_sid
					WHERE e.call_sid = $1 AND e.status = $2`, append(args, a.status)
			case a.turn > 0:
				q, args = `SELECT count(*) FROM turns WHERE call_sid = $1 AND number = $2`, append(args, a.turn)
			default:
				q = `SELECT count(*) FROM turns WHERE call_sid = $1 AND number = 0`
			}
			want := 1
			if a.path != "/twilio/status" {
				want = 2 // the caller and assistant turns; for an incoming call, the call and its greeting
			}
			var n int
			if err := conn.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if a.path == "/twilio/voice" {
				var calls int
				if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM calls WHERE sid = $1`, a.callSID).Scan(&calls); err != nil {
					t.Fatal(err)
				}
				n += calls
			}
			if n != want {
				missing++
				t.Errorf("acknowledged %s %s (status %q, turn %d) is not in the database", a.path, a.callSID, a.status, a.turn)
			}
		}
		t.Logf("%d acknowledged writes, %d missing", len(l.acks), missing)
	})
}

// TestDatabaseDownFromStart starts an instance whose database has never
// answered: every webhook that needs it is refused at once with a
// retryable 503, and the fallback URL still gives the caller an apology.
func TestDatabaseDownFromStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now: the database is down
	cfg := storeConfig("postgres://" + pgtest.Superuser + "@127.0.0.1:" + strconv.Itoa(port) + "/switchboard?sslmode=disable")
	cfg.ConnectTimeout, cfg.QueryTimeout = time.Second, 2*time.Second
	in := servicetest.Start(t, servicetest.Options{Calls: mustOpen(t, cfg)})
	call := twiliotest.NewCall(servicetest.AccountSID)

	for _, wh := range []struct {
		name, path string
		form       map[string][]string
	}{
		{"VoiceUnavailable", "/twilio/voice", call.Form("CallStatus", "ringing")},
		{"GatherUnavailable", "/twilio/gather?turn=1", turnForm(call, "What are your opening hours?")},
		{"StatusUnavailable", "/twilio/status", statusForm(call, "completed", 2)},
		{"RecordingUnavailable", "/twilio/recording", recordingForm(call, in.Media, twiliotest.SID("RE"))},
	} {
		t.Run(wh.name, func(t *testing.T) {
			r, err := post(t.Context(), in.URL, wh.path, wh.form)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusServiceUnavailable || r.retryAfter == "" || r.took > answerBound {
				t.Errorf("answered %d (Retry-After %q) after %v: %s; want 503 with Retry-After within %v",
					r.status, r.retryAfter, r.took, r.body, answerBound)
			}
		})
	}

	t.Run("FallbackApologizes", func(t *testing.T) {
		r, err := post(t.Context(), in.URL, "/twilio/fallback",
			call.Form("ErrorCode", "11200", "ErrorUrl", servicetest.PublicBaseURL+"/twilio/voice"))
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusOK || !strings.HasPrefix(r.body, "<?xml") ||
			!strings.Contains(r.body, "something went wrong on our side") || !strings.Contains(r.body, "<Hangup") {
			t.Errorf("fallback answered %d: %s; want the apology TwiML", r.status, r.body)
		}
	})

	t.Run("NotReady", func(t *testing.T) {
		r, err := get(t.Context(), in.URL, "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusServiceUnavailable || r.took > answerBound {
			t.Errorf("/readyz answered %d after %v, want 503", r.status, r.took)
		}
		if r, err := get(t.Context(), in.URL, "/healthz"); err != nil || r.status != http.StatusOK {
			t.Errorf("/healthz = %+v, %v; want 200: the process is alive", r, err)
		}
	})
}
