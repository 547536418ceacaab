package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/handlers/fixture"
	"switchboard/runtime"
	"switchboard/storage/localfs"
	"switchboard/storage/memory"
)

// localConfig is the HTTP runtime configuration of an in-process instance:
// the server's defaults on a loopback port, no drain delay.
var localConfig = runtime.Config{
	ListenAddr: "127.0.0.1:0", ReadTimeout: runtime.DefaultReadTimeout, WriteTimeout: runtime.DefaultWriteTimeout,
	IdleTimeout: runtime.DefaultIdleTimeout, BodyLimit: runtime.DefaultBodyLimit, ShutdownTimeout: 5 * time.Second,
}

// newApp builds a fresh switchboard app as the dev server runs it — memory
// store, local blobs in a temporary folder, the scripted assistant — which
// believes it is fixture.BaseURL and checks signatures with
// fixture.DevAuthToken, exactly like `make run`, unless o says otherwise.
// Background work is only enqueued: archiving and summaries are not part of
// a webhook's answer.
func newApp(o appOptions) (*fiber.App, func(), error) {
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
	blobs, err := localfs.New(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	srv := handlers.New(handlers.Config{
		PublicBaseURL: o.BaseURL,
		AuthToken:     o.AuthToken,
		Voice:         "Polly.Joanna-Neural",
		MaxBody:       localConfig.BodyLimit,
	}, handlers.Deps{
		Calls: memory.New(), Blobs: blobs, Assistant: assistant.NewScripted(),
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Capture: o.Capture,
		// Fixtures include webhooks refused for their signature.
		CaptureRefused: true,
	})
	return srv.App(runtime.FiberConfig(localConfig)), func() { os.RemoveAll(dir) }, nil
}

// appOptions override the in-process app's identity; zero values are the
// dev server's.
type appOptions struct {
	BaseURL, AuthToken string
	// Capture, when set, is the handlers' capture hook.
	Capture func(*fiber.Ctx)
}

// localServer is a fresh app served on a loopback listener.
type localServer struct {
	URL   string
	stop  context.CancelFunc
	done  chan struct{}
	clean func()
}

func startLocal(o appOptions) (*localServer, error) {
	app, clean, err := newApp(o)
	if err != nil {
		return nil, err
	}
	srv, err := runtime.Listen(localConfig, app, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		clean()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &localServer{URL: fmt.Sprintf("http://%s", srv.Addr()), stop: stop, done: make(chan struct{}), clean: clean}
	go func() { _ = srv.Serve(ctx); close(l.done) }()
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
