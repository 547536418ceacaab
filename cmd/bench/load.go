package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
)

// request is one signed webhook, ready to send.
type request struct {
	path, body, signature string
	want                  int
}

func signed(path string, form url.Values, want int) request {
	return request{path: path, body: form.Encode(), signature: twiliotest.Sign(servicetest.AuthToken, servicetest.PublicBaseURL+path, form), want: want}
}

func callOf(sid string) twiliotest.Call {
	return twiliotest.Call{AccountSID: servicetest.AccountSID, CallSID: sid, From: "+14155550100", To: "+18005550100"}
}

// statusRequest is the end-of-call status callback Twilio sends an inbound call.
func statusRequest(sid string) request {
	return signed("/twilio/status", callOf(sid).Form("CallStatus", "completed", "CallDuration", "42", "Duration", "1",
		"SequenceNumber", "2", "CallbackSource", "call-progress-events", "Timestamp", time.Now().UTC().Format(time.RFC1123Z)),
		http.StatusNoContent)
}

// turnRequest is caller turn n of the call, as the <Gather> action sends it.
func turnRequest(sid string, n int) request {
	return signed("/twilio/gather?turn="+strconv.Itoa(n), callOf(sid).Form("SpeechResult", "Where are you located?",
		"Confidence", "0.91", "CallStatus", "in-progress"), http.StatusOK)
}

// target gives client's i-th request of a closed-loop run.
type target func(client, i int) request

func statusTarget(space int) target {
	return func(client, i int) request { return statusRequest(callSID(space, client, i)) }
}

func turnTarget(space int) target {
	return func(client, i int) request {
		return turnRequest(callSID(space, client, i/turnsPerCall), i%turnsPerCall+1)
	}
}

// fixedTarget gives the i-th request of a fixed-rate run.
type fixedTarget func(i int) request

func fixedStatus(space, _ int) fixedTarget {
	return func(i int) request { return statusRequest(callSID(space, 0, i)) }
}

// fixedTurn spreads the run's n turns over n/turnsPerCall calls, a turn
// of each in turn, so each call's next turn is due that many intervals
// (a second at 500/s) after its previous one.
func fixedTurn(space, n int) fixedTarget {
	calls := fixedTurnCalls(n)
	return func(i int) request {
		return turnRequest(callSID(space, 0, i%calls), i/calls+1)
	}
}

// fixedTurnCalls is how many calls a fixed-rate run of n turns needs.
func fixedTurnCalls(n int) int { return (n + turnsPerCall - 1) / turnsPerCall }

// httpClient is the load generator's client. It shares the machine's CPUs
// with the service and PostgreSQL (Twilio's would not), so it is the
// leanest one at hand: fasthttp, the library the service itself serves with.
var httpClient = &fasthttp.Client{MaxConnsPerHost: 4096, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}

// send performs r against the service and reports an unexpected answer.
func (in *instance) send(r request) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(in.url + r.path)
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType("application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", r.signature)
	req.SetBodyString(r.body)
	if err := httpClient.Do(req, resp); err != nil {
		return err
	}
	if resp.StatusCode() != r.want {
		return fmt.Errorf("%s answered %d, want %d: %.200s", r.path, resp.StatusCode(), r.want, resp.Body())
	}
	return nil
}

// closedLoop runs clients that each send their next request as soon as the
// previous one is answered: the service's maximum rate.
type closedLoop struct {
	clients int
	limit   int // requests each client may send (seeded calls)
}

// webhooks sends the target's requests to the service.
func webhooks(svc *instance, next target) func(client, i int) error {
	return func(client, i int) error { return svc.send(next(client, i)) }
}

type throughput struct {
	requests, errors int
	elapsed, mean    time.Duration
	perSecond        float64
	cpu              string
}

func (l closedLoop) run(d time.Duration, do func(client, i int) error) (throughput, error) {
	var requests, errs atomic.Int64
	var busy atomic.Int64
	var firstErr error
	var once sync.Once
	var exhausted atomic.Bool
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range l.clients {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				if i >= l.limit {
					exhausted.Store(true)
					return
				}
				t0 := time.Now()
				err := do(c, i)
				busy.Add(int64(time.Since(t0)))
				requests.Add(1)
				if err != nil {
					errs.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t := throughput{requests: int(requests.Load()), errors: int(errs.Load()), elapsed: elapsed}
	t.perSecond = float64(t.requests-t.errors) / elapsed.Seconds()
	if t.requests > 0 {
		t.mean = time.Duration(busy.Load() / int64(t.requests))
	}
	switch {
	case exhausted.Load():
		return t, errors.New("a client ran out of seeded calls: raise -max-rate")
	case firstErr != nil && t.errors*100 > t.requests:
		return t, fmt.Errorf("%d of %d requests failed; first: %w", t.errors, t.requests, firstErr)
	}
	return t, nil
}

// latencies are the samples of a fixed-rate run.
type latencies struct {
	samples  []time.Duration
	errors   int
	firstErr error
}

// percentile is the p-th percentile (nearest rank) of the samples.
func (l latencies) percentile(p float64) time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	i := int(float64(len(l.samples))*p/100+0.999999) - 1
	return l.samples[min(max(i, 0), len(l.samples)-1)]
}

// openLoop offers rate requests per second for d, each sent at its
// scheduled time whether or not earlier ones have been answered, and
// measures each from its scheduled time, so a stalled service cannot hide
// its backlog by slowing the sender down.
func openLoop(svc *instance, rate int, d time.Duration, next fixedTarget) latencies {
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	reqs := make([]request, n)
	for i := range reqs {
		reqs[i] = next(i)
	}
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	for i := range reqs {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Go(func() {
			err := svc.send(reqs[i])
			lat[i] = time.Since(at)
			if err != nil {
				failed[i] = true
				once.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	var out latencies
	for i := range lat {
		if failed[i] {
			out.errors++
		}
	}
	out.samples, out.firstErr = lat, firstErr
	slices.Sort(out.samples)
	return out
}
