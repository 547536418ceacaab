// Package servicetest runs complete switchboard instances for tests: the
// service exactly as cmd/switchboard wires it (runtime/service), on a
// loopback listener, with a worker pool and a fake Twilio media server,
// over whichever stores the test passes. Several instances may share one
// store to show that nothing about a call lives in an instance.
package servicetest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/worker"
	"switchboard/storage"
)

// Test credentials.
const (
	AccountSID = "AC0123456789abcdef0123456789abcdef"
	AuthToken  = "test-auth-token-0123456789"
	APIToken   = "test-api-token-0123456789abcdef"
	// PublicBaseURL is what the instance believes Twilio calls; requests are
	// signed for it whatever address the listener really has.
	PublicBaseURL = "https://switchboard.example.com"
)

// Options choose an instance's collaborators; zero values get test defaults
// (memory store, local-disk blobs in a temp dir, the scripted assistant,
// one worker polling every 20 ms, a fresh fake media server).
type Options struct {
	Calls     storage.Store
	Blobs     storage.BlobStore
	Assistant assistant.Assistant
	Media     *twiliotest.Media
	// Configure adjusts the configuration (see Config) before the service
	// is built.
	Configure func(c *service.Config)
	// NoWorkers runs no workers (WORKERS=0): work is only enqueued.
	NoWorkers bool
	Log       *slog.Logger
	// Replica is the replica bucket's store: with it, deleting a call
	// records the erasure of its audio there, which the workers run.
	Replica storage.BlobStore
}

// Config is the configuration of a test instance: the service's defaults,
// the test credentials and a fast worker pool on a loopback port.
func Config(t testing.TB, media *twiliotest.Media) service.Config {
	c := service.Defaults()
	c.PublicBaseURL, c.TwilioAccountSID, c.TwilioAuthToken = PublicBaseURL, AccountSID, AuthToken
	c.APITokens = []string{APIToken}
	c.TwilioAPIBaseURL = media.URL
	c.DataDir = t.TempDir()
	c.HTTP.ListenAddr, c.HTTP.DrainDelay, c.HTTP.ShutdownTimeout = "127.0.0.1:0", 0, 5*time.Second
	c.Worker.Size, c.Worker.PollInterval, c.Worker.Lease = 1, 20*time.Millisecond, 30*time.Second
	c.Worker.MaxAttempts, c.Worker.BackoffBase, c.Worker.BackoffMax = 5, 10*time.Millisecond, 50*time.Millisecond
	c.Model.SummaryTimeout, c.Worker.SummaryTimeout = 10*time.Second, 10*time.Second
	c.Worker.Webhooks.Workers, c.Worker.Webhooks.Timeout = 2, 5*time.Second
	c.Worker.Webhooks.BackoffBase, c.Worker.Webhooks.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	return c
}

// Instance is one running switchboard.
type Instance struct {
	t        testing.TB
	URL      string
	Service  *service.Service
	Calls    storage.Store
	Blobs    storage.BlobStore
	AI       assistant.Assistant
	Media    *twiliotest.Media
	Server   *handlers.Server
	Workers  *worker.Pool
	HTTP     *http.Client
	Registry *prometheus.Registry

	stopWorkers context.CancelFunc
	workersDone chan struct{}
	once        sync.Once
	stopServing context.CancelFunc
	served      chan struct{}
}

// Start runs an instance until the test ends.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	if o.Media == nil {
		o.Media = twiliotest.NewMedia(AccountSID, AuthToken)
		t.Cleanup(o.Media.Close)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := Config(t, o.Media)
	if o.NoWorkers {
		cfg.Worker.Size = 0
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	svc, err := service.New(context.Background(), cfg, o.Log, service.Overrides{Calls: o.Calls, Blobs: o.Blobs, Replica: o.Replica, Assistant: o.Assistant})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	if err := svc.Listen(); err != nil {
		svc.Close()
		t.Fatalf("listen: %v", err)
	}
	in := &Instance{
		t: t, Service: svc, Calls: svc.Calls, Blobs: svc.Blobs, AI: svc.AI, Media: o.Media,
		Server: svc.Handlers, Workers: svc.Workers, Registry: svc.Registry,
		URL: "http://" + svc.Addr().String(), HTTP: &http.Client{Timeout: 30 * time.Second},
	}
	// As Service.Run, in two parts, so a test can stop the workers alone
	// (an instance whose workers die while it serves).
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	in.stopServing, in.served = stop, served
	go func() { _ = svc.Server.Serve(ctx); close(served) }()
	wctx, wstop := context.WithCancel(context.Background())
	in.stopWorkers, in.workersDone = wstop, make(chan struct{})
	go func() { svc.Workers.Run(wctx); close(in.workersDone) }()
	lctx, lstop := context.WithCancel(context.Background())
	lifecycleDone := make(chan struct{})
	go func() { svc.WatchLifecycle(lctx); close(lifecycleDone) }()
	t.Cleanup(func() {
		lstop()
		<-lifecycleDone
		in.StopWorkers()
		stop()
		<-served
		svc.Close()
	})
	return in
}

// Terminate does what SIGTERM does to the process: the drain (readiness
// 503, streamed calls moved or waited for, the configured drain delay),
// the HTTP shutdown, the wait for streamed calls; it returns when Serve
// has. The instance's stores stay open until the test ends.
func (in *Instance) Terminate() {
	in.stopServing()
	<-in.served
}

// StopWorkers stops the worker pool (work in hand is released) and waits.
func (in *Instance) StopWorkers() {
	in.once.Do(func() {
		in.stopWorkers()
	})
	<-in.workersDone
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Webhook POSTs a signed Twilio webhook to path (with its query).
func (in *Instance) Webhook(path string, form url.Values) Response {
	in.t.Helper()
	return in.Do(SignedRequest(in.t, in.URL, path, form))
}

// SignedRequest builds a webhook request to base+path signed as Twilio signs
// it for PublicBaseURL+path.
func SignedRequest(t testing.TB, base, path string, form url.Values) *http.Request {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(AuthToken, PublicBaseURL+path, form))
	return req
}

// API performs an authenticated calls-API request.
func (in *Instance) API(method, path string) Response {
	in.t.Helper()
	req, err := http.NewRequest(method, in.URL+path, nil)
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+APIToken)
	return in.Do(req)
}

// Send performs an authenticated API request with a JSON body (none when
// body is ""); header holds extra header names and values, in pairs.
func (in *Instance) Send(method, path, body string, header ...string) Response {
	in.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.URL+path, r)
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+APIToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return in.Do(req)
}

// Do sends req and reads the whole response.
func (in *Instance) Do(req *http.Request) Response {
	in.t.Helper()
	resp, err := in.HTTP.Do(req)
	if err != nil {
		in.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		in.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// GetCall fetches a call through the API and decodes it.
func (in *Instance) GetCall(sid string) storage.Call {
	in.t.Helper()
	r := in.API(http.MethodGet, "/api/v1/calls/"+sid)
	if r.Status != http.StatusOK {
		in.t.Fatalf("GET call %s: %d %s", sid, r.Status, r.Body)
	}
	var c storage.Call
	if err := json.Unmarshal([]byte(r.Body), &c); err != nil {
		in.t.Fatalf("decoding call: %v", err)
	}
	return c
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
