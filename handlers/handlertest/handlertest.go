// Package handlertest runs complete switchboard instances for tests: the
// handlers on a real HTTP listener, a worker pool, and a fake Twilio media
// server, over whichever stores the test passes. Several instances may share
// one store to show that nothing about a call lives in an instance.
package handlertest

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
	"switchboard/runtime"
	"switchboard/runtime/worker"
	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/memory"
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
	Handlers  handlers.Config // AuthToken etc. default to the constants above
	Worker    worker.Config
	// NoWorkers starts no worker pool (Workers stays nil).
	NoWorkers bool
	Log       *slog.Logger
}

// Instance is one running switchboard.
type Instance struct {
	t        testing.TB
	URL      string
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
}

// Start runs an instance until the test ends.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	if o.Calls == nil {
		o.Calls = memory.New()
	}
	if o.Blobs == nil {
		b, err := localfs.New(t.TempDir())
		if err != nil {
			t.Fatalf("localfs: %v", err)
		}
		o.Blobs = b
	}
	if o.Assistant == nil {
		o.Assistant = assistant.NewScripted()
	}
	if o.Media == nil {
		o.Media = twiliotest.NewMedia(AccountSID, AuthToken)
		t.Cleanup(o.Media.Close)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc := o.Handlers
	if hc.AuthToken == "" {
		hc.AuthToken = AuthToken
	}
	if hc.PublicBaseURL == "" {
		hc.PublicBaseURL = PublicBaseURL
	}
	if hc.APITokens == nil {
		hc.APITokens = []string{APIToken}
	}
	hc.TwilioAPIBaseURL = o.Media.URL
	wc := o.Worker
	if wc.Size == 0 {
		wc.Size = 1
	}
	if wc.PollInterval == 0 {
		wc.PollInterval = 20 * time.Millisecond
	}
	if wc.Lease == 0 {
		wc.Lease = 30 * time.Second
	}
	if wc.MaxAttempts == 0 {
		wc.MaxAttempts = 5
	}
	if wc.BackoffBase == 0 {
		wc.BackoffBase = 10 * time.Millisecond
	}
	if wc.BackoffMax == 0 {
		wc.BackoffMax = 50 * time.Millisecond
	}
	if wc.SummaryTimeout == 0 {
		wc.SummaryTimeout = 10 * time.Second
	}

	in := &Instance{t: t, Calls: o.Calls, Blobs: o.Blobs, AI: o.Assistant, Media: o.Media, Registry: prometheus.NewRegistry()}
	tw := worker.NewTwilio(o.Media.URL, AccountSID, AuthToken)
	if !o.NoWorkers {
		in.Workers = worker.New(wc, worker.Deps{Calls: o.Calls, Work: o.Calls, Blobs: o.Blobs, Assistant: o.Assistant, Twilio: tw, Log: o.Log, Registry: in.Registry})
	}
	deps := handlers.Deps{Calls: o.Calls, Blobs: o.Blobs, Assistant: o.Assistant, Log: o.Log, Registry: in.Registry}
	if in.Workers != nil {
		deps.WorkReady = in.Workers.Notify
	}
	in.Server = handlers.New(hc, deps)
	rc := runtime.Config{
		ListenAddr: "127.0.0.1:0", ReadTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second,
		IdleTimeout: 75 * time.Second, BodyLimit: 64 << 10, DrainDelay: 0, ShutdownTimeout: 5 * time.Second,
	}
	srv, err := runtime.Listen(rc, in.Server.App(runtime.FiberConfig(rc)), o.Log)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(served) }()
	in.URL = "http://" + srv.Addr().String()
	in.HTTP = &http.Client{Timeout: 30 * time.Second}
	in.workersDone = make(chan struct{})
	if in.Workers != nil {
		wctx, wstop := context.WithCancel(context.Background())
		in.stopWorkers = wstop
		go func() { in.Workers.Run(wctx); close(in.workersDone) }()
	} else {
		close(in.workersDone)
	}
	t.Cleanup(func() {
		in.StopWorkers()
		stop()
		<-served
	})
	return in
}

// StopWorkers stops the worker pool (work in hand is released) and waits.
func (in *Instance) StopWorkers() {
	in.once.Do(func() {
		if in.stopWorkers != nil {
			in.stopWorkers()
		}
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
