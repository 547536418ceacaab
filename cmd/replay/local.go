package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/fixture"
	"switchboard/runtime/service"
)

// newService builds a fresh switchboard as the dev server runs it, through
// the same wiring as the binary — memory store, local blobs in a temporary
// folder, the scripted assistant — which believes it is fixture.BaseURL
// and checks signatures with fixture.DevAuthToken, exactly like `make run`,
// unless o says otherwise. It listens on a loopback port with no drain
// delay. Background work is only enqueued: archiving and summaries are not
// part of a webhook's answer.
func newService(o appOptions) (*service.Service, func(), error) {
	if o.BaseURL == "" {
		o.BaseURL = fixture.BaseURL
	}
	if o.AuthToken == "" {
		o.AuthToken = fixture.DevAuthToken
	}
	dir, err := os.MkdirTemp("", "replay-blobs-")
	if err != nil {
		return nil, nil, err
	}
	cfg := service.Defaults()
	cfg.PublicBaseURL, cfg.TwilioAuthToken, cfg.DataDir = o.BaseURL, o.AuthToken, dir
	cfg.HTTP.ListenAddr, cfg.HTTP.DrainDelay, cfg.HTTP.ShutdownTimeout = "127.0.0.1:0", 0, 5*time.Second
	cfg.Worker.Size = 0
	svc, err := service.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), service.Overrides{
		Capture: o.Capture,
		// Fixtures include webhooks refused for their signature.
		CaptureRefused: o.Capture != nil,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return svc, func() { svc.Close(); os.RemoveAll(dir) }, nil
}

// appOptions override the in-process service's identity; zero values are
// the dev server's.
type appOptions struct {
	BaseURL, AuthToken string
	// Capture, when set, is the handlers' capture hook.
	Capture func(*fiber.Ctx)
}

// localServer is a fresh service served on a loopback listener.
type localServer struct {
	URL   string
	stop  context.CancelFunc
	done  chan struct{}
	clean func()
}

func startLocal(o appOptions) (*localServer, error) {
	svc, clean, err := newService(o)
	if err != nil {
		return nil, err
	}
	if err := svc.Listen(); err != nil {
		clean()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &localServer{URL: fmt.Sprintf("http://%s", svc.Addr()), stop: stop, done: make(chan struct{}), clean: clean}
	go func() { _ = svc.Run(ctx); close(l.done) }()
	return l, nil
}

// Close shuts the server down and removes its blobs.
func (l *localServer) Close() {
	l.stop()
	<-l.done
	l.clean()
}

// runtimes are the in-process targets, each returning a fresh app.
var runtimes = map[string]func() (fixture.Target, func(), error){
	"http": func() (fixture.Target, func(), error) {
		l, err := startLocal(appOptions{})
		if err != nil {
			return nil, nil, err
		}
		return fixture.HTTPTarget{URL: l.URL, BaseURL: fixture.BaseURL, AuthToken: fixture.DevAuthToken}, l.Close, nil
	},
	"lambda-rest":      lambdaRuntime(eventREST),
	"lambda-http":      lambdaRuntime(eventHTTPAPI),
	"lambda-alb":       lambdaRuntime(eventALB),
	"lambda-alb-multi": lambdaRuntime(eventALBMulti),
}

var runtimeNames = []string{"http", "lambda-rest", "lambda-http", "lambda-alb", "lambda-alb-multi"}
