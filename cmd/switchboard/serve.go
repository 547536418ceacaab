package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/openai"
	"switchboard/handlers"
	"switchboard/runtime"
	"switchboard/runtime/lambda"
	"switchboard/runtime/worker"
	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/memory"
	"switchboard/storage/postgres"
	s3store "switchboard/storage/s3"
)

// Main is the wired service: stores, assistant, handlers, HTTP server and
// worker pool. Tests build it on LISTEN_ADDR=:0 and drive it over HTTP.
type Main struct {
	Config   Config
	Log      *slog.Logger
	Calls    storage.Store
	Blobs    storage.BlobStore
	AI       assistant.Assistant
	Handlers *handlers.Server
	App      *fiber.App
	Server   *runtime.Server // nil until Listen
	Workers  *worker.Pool
	Registry *prometheus.Registry
	// Warnings are said once at start-up: development defaults in use.
	Warnings []string

	closers []func()
}

// NewMain builds every dependency from cfg and the app; Listen binds the
// HTTP listener, or the app runs under Lambda.
func NewMain(ctx context.Context, cfg Config, log *slog.Logger) (*Main, error) {
	m := &Main{Config: cfg, Log: log, Registry: prometheus.NewRegistry()}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := m.openStores(ctx); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.openAssistant(ctx); err != nil {
		m.Close()
		return nil, err
	}
	if cfg.TwilioAuthToken == "" {
		m.Warnings = append(m.Warnings, "TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked (development only)")
	}
	if w, _ := handlers.CheckSpeech(cfg.Language, cfg.Voice); w != "" {
		m.Warnings = append(m.Warnings, w)
	}
	if len(cfg.APITokens) == 0 {
		m.Warnings = append(m.Warnings, "API_TOKENS is not set: the calls API is open to anyone who can reach it (development only)")
	}

	tw := worker.NewTwilio(cfg.TwilioAPIBaseURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken)
	m.Workers = worker.New(cfg.Worker, worker.Deps{Calls: m.Calls, Work: m.Calls, Blobs: m.Blobs, Assistant: m.AI, Twilio: tw, Log: log, Registry: m.Registry})
	m.Handlers = handlers.New(handlers.Config{
		PublicBaseURL:    cfg.PublicBaseURL,
		AuthToken:        cfg.TwilioAuthToken,
		NextAuthToken:    cfg.TwilioNextAuthToken,
		APITokens:        cfg.APITokens,
		Language:         cfg.Language,
		Voice:            cfg.Voice,
		TurnTimeout:      cfg.Model.TurnTimeout,
		RequestTimeout:   cfg.RequestTimeout,
		MaxSilence:       cfg.MaxSilence,
		MaxFailures:      cfg.MaxFailures,
		TwilioAPIBaseURL: cfg.TwilioAPIBaseURL,
		RecordingURLTTL:  cfg.S3.URLTTL,
		MaxBody:          cfg.HTTP.BodyLimit,
	}, handlers.Deps{
		Calls: m.Calls, Blobs: m.Blobs, Assistant: m.AI, Log: log,
		Registry: m.Registry, WorkReady: m.Workers.Notify,
		Capture: m.captureHook(), RequestID: lambda.RequestID, AltTargets: lambda.AltTargets,
	})
	// The Lambda context middleware does nothing under the HTTP server, so
	// both runtimes serve the very same app.
	m.App = m.Handlers.App(runtime.FiberConfig(cfg.HTTP), lambda.UserContext())
	return m, nil
}

// Listen binds the HTTP listener (LISTEN_ADDR; ":0" picks a free port).
func (m *Main) Listen() error {
	srv, err := runtime.Listen(m.Config.HTTP, m.App, m.Log)
	if err != nil {
		return err
	}
	srv.OnDrain = m.Handlers.Drain
	m.Server = srv
	return nil
}

func (m *Main) openStores(ctx context.Context) error {
	if m.Config.Postgres.URL != "" {
		db, err := postgres.Open(ctx, m.Config.Postgres)
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		m.Calls = db
		m.closers = append(m.closers, db.Close)
	} else {
		m.Calls = memory.New()
		m.Warnings = append(m.Warnings, "calls are kept in memory and lost when the process stops (set DATABASE_URL for PostgreSQL)")
	}
	if m.Config.S3.Bucket != "" {
		blobs, err := s3store.New(ctx, m.Config.S3)
		if err != nil {
			return fmt.Errorf("S3_BUCKET: %w", err)
		}
		m.Blobs = blobs
		return nil
	}
	blobs, err := localfs.New(m.Config.DataDir)
	if err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}
	m.Blobs = blobs
	m.Warnings = append(m.Warnings, "recordings are stored on local disk in "+m.Config.DataDir+" (set S3_BUCKET for S3)")
	return nil
}

func (m *Main) openAssistant(ctx context.Context) error {
	metrics, err := assistant.NewMetrics(m.Registry)
	if err != nil {
		return err
	}
	deps := assistant.Deps{Config: m.Config.Model, Metrics: metrics, Logger: m.Log}
	switch m.Config.Assistant {
	case "openai":
		a, err := openai.New(m.Config.OpenAI, deps)
		if err != nil {
			return fmt.Errorf("ASSISTANT=openai: %w", err)
		}
		m.AI = a
		m.closers = append(m.closers, func() { _ = a.Close() })
	case "bedrock":
		a, err := bedrock.New(ctx, m.Config.Bedrock, deps)
		if err != nil {
			return fmt.Errorf("ASSISTANT=bedrock: %w", err)
		}
		m.AI = a
	default:
		s := assistant.NewScripted()
		s.Greeting = m.Config.Model.Greeting
		s.Goodbye = m.Config.Model.Goodbye
		m.AI = s
	}
	return nil
}

// Addr is the HTTP server's bound address.
func (m *Main) Addr() net.Addr { return m.Server.Addr() }

// Run serves HTTP and runs the workers until ctx is cancelled, then drains
// HTTP and, after it, stops the workers, which give back their work.
func (m *Main) Run(ctx context.Context) error {
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { m.Workers.Run(wctx) })
	err := m.Server.Serve(ctx)
	stopWorkers()
	wg.Wait()
	m.Log.Info("shutdown complete")
	return err
}

// Close releases the stores. Safe to call more than once.
func (m *Main) Close() {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
}
