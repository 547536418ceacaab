package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/openai"
	"switchboard/handlers"
	"switchboard/runtime"
	"switchboard/runtime/lambda"
	"switchboard/runtime/lifecycle"
	"switchboard/runtime/outbound"
	"switchboard/runtime/worker"
	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/memory"
	"switchboard/storage/postgres"
	"switchboard/storage/redact"
	s3store "switchboard/storage/s3"
)

// Service is a whole switchboard wired from its configuration: stores,
// assistant, handlers, the Fiber app with its runtime hooks, the worker pool
// and, once Listen is called, the HTTP server. cmd/switchboard runs it; the
// end-to-end tests, the benchmark and the replay tool build it the same way,
// so every one of them runs the production wiring.
type Service struct {
	Config Config
	Log    *slog.Logger
	Calls  storage.Store
	Blobs  storage.BlobStore
	AI     assistant.Assistant
	// Versions resolves the assistant version each call runs with; its
	// default is the configuration's own assistant.
	Versions *assistant.Versions
	Handlers *handlers.Server
	App      *fiber.App
	Server   *runtime.Server // nil until Listen
	Workers  *worker.Pool
	out      *outbound.Client
	Registry *prometheus.Registry
	// Warnings are said once at start-up: development defaults in use.
	Warnings []string
	// Replica is a store on the replica bucket (S3_REPLICA_BUCKET), where
	// the workers erase deleted calls' audio; nil without one.
	Replica storage.BlobStore

	closers []func()
}

// Overrides replace collaborators New would otherwise build from the
// configuration: a store shared by several instances, a fake provider, a
// capture hook. Zero fields are built from the configuration.
type Overrides struct {
	Calls     storage.Store
	Blobs     storage.BlobStore
	Assistant assistant.Assistant
	// Capture replaces the CAPTURE_DIR hook; CaptureRefused also hands it
	// requests refused for their signature (for generating fixtures).
	Capture        func(*fiber.Ctx)
	CaptureRefused bool
	// Replica replaces the store on S3_REPLICA_BUCKET, and like it makes
	// deleting a call erase its audio there too.
	Replica storage.BlobStore
}

// New builds every dependency from cfg (or o) and the app; Listen binds the
// HTTP listener, or the app runs under Lambda (LambdaFunction).
func New(ctx context.Context, cfg Config, log *slog.Logger, o Overrides) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.RedactsLogs() {
		log = slog.New(redact.NewHandler(log.Handler()))
	}
	m := &Service{Config: cfg, Log: log, Registry: prometheus.NewRegistry(), Calls: o.Calls, Blobs: o.Blobs, Replica: o.Replica, AI: o.Assistant}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := m.openStores(ctx); err != nil {
		m.Close()
		return nil, err
	}
	if cfg.Redact == RedactAll {
		// Everything written to the call store goes through the
		// redaction first: turns of both call modes, summaries, analyses,
		// tool calls, work errors.
		m.Calls = redact.NewStore(m.Calls)
	}
	if err := m.openAssistant(ctx); err != nil {
		m.Close()
		return nil, err
	}
	m.Warnings = append(m.Warnings, cfg.Deprecated...)
	if cfg.TwilioAuthToken == "" {
		m.Warnings = append(m.Warnings, "TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked (development only)")
	}
	if w, _ := handlers.CheckSpeech(cfg.Language, cfg.Voice); w != "" {
		m.Warnings = append(m.Warnings, w)
	}
	if len(cfg.APITokens) == 0 {
		m.Warnings = append(m.Warnings, "API_TOKENS is not set: the calls API and the console are open to anyone who can reach them (development only)")
	}
	if cfg.Console.SessionKey == "" {
		m.Warnings = append(m.Warnings, "CONSOLE_SESSION_KEY is not set: console sessions are signed with a key made for this process and end when it stops (development only)")
	}

	def, err := DefaultAssistant(cfg)
	if err != nil {
		m.Close()
		return nil, err
	}
	m.Versions = assistant.NewVersions(m.Calls, def)

	tw := worker.NewTwilio(cfg.TwilioAPIBaseURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken)
	deps := worker.Deps{Calls: m.Calls, Work: m.Calls, Analyses: m.Calls, Versions: m.Versions,
		Blobs: m.Blobs, Assistant: m.AI, Twilio: tw, Log: log, Registry: m.Registry,
		Events: m.Calls, Outbound: m.outbound()}
	replicaBucket := ""
	if m.Replica != nil {
		replicaBucket = cfg.S3.ReplicaBucket
		deps.Erasures = m.Calls
		deps.Buckets = map[string]storage.BlobStore{cfg.S3.ReplicaBucket: m.Replica, cfg.S3.Bucket: m.Blobs}
	}
	// Calls past RETENTION_DAYS are expired by the workers; their audio's
	// purges run whatever the setting, so turning retention off finishes
	// what it started. Event deliveries (and their events) past the
	// window go in the same rounds.
	deps.Retention, deps.ReplicaBucket = m.Calls, replicaBucket
	deps.RetentionSteps = []worker.RetentionStep{{Name: "deliveries", Purge: m.Calls.PurgeDeliveries}}
	m.Workers = worker.New(cfg.Worker, deps)
	capture := o.Capture
	if capture == nil {
		capture = m.captureHook()
	}
	m.Handlers = handlers.New(handlers.Config{
		PublicBaseURL:    cfg.PublicBaseURL,
		AuthToken:        cfg.TwilioAuthToken,
		NextAuthToken:    cfg.TwilioNextAuthToken,
		APITokens:        cfg.APITokens,
		Language:         cfg.Language,
		Voice:            cfg.Voice,
		Greeting:         cfg.Model.Greeting,
		TurnTimeout:      cfg.Model.TurnTimeout,
		RequestTimeout:   cfg.RequestTimeout,
		MaxSilence:       cfg.MaxSilence,
		MaxFailures:      cfg.MaxFailures,
		TwilioAPIBaseURL: cfg.TwilioAPIBaseURL,
		RecordingURLTTL:  cfg.S3.URLTTL,
		MaxBody:          cfg.HTTP.BodyLimit,
		Console:          cfg.Console,
		SecureCookies:    cfg.Production(),
		CallMode:         cfg.CallMode,
		Streaming:        !cfg.Serverless,
		Relay:            cfg.Relay,
		ReplicaBucket:    replicaBucket,
		RedactStored:     cfg.Redact == RedactAll,
		RawModelInput:    !cfg.RedactModelInput,
	}, handlers.Deps{
		Calls: m.Calls, Writes: m.Calls, Blobs: m.Blobs, Assistant: m.AI, Log: log,
		Assistants: m.Calls, Numbers: m.Calls, Analyses: m.Calls, Versions: m.Versions, Endpoints: m.Calls,
		Registry: m.Registry, WorkReady: m.Workers.Notify,
		Capture: capture, CaptureRefused: o.CaptureRefused,
		RequestID: lambda.RequestID, AltTargets: lambda.AltTargets,
		Outbound: m.outbound(),
	})
	// The Lambda context middleware does nothing under the HTTP server, so
	// both runtimes serve the very same app.
	m.App = m.Handlers.App(runtime.FiberConfig(cfg.HTTP), lambda.UserContext())
	return m, nil
}

// Listen binds the HTTP listener (LISTEN_ADDR; ":0" picks a free port).
func (m *Service) Listen() error {
	srv, err := runtime.Listen(m.Config.HTTP, m.App, m.Log)
	if err != nil {
		return err
	}
	srv.OnDrain = m.Handlers.Drain
	srv.Settle = func() {
		if n := m.Handlers.WaitRelays(context.Background()); n > 0 {
			m.Log.Warn("shutdown: streamed calls dropped at the end of the drain", "calls", n)
		}
	}
	m.Server = srv
	return nil
}

// WatchLifecycle polls the Auto Scaling target lifecycle state
// (LIFECYCLE_POLL_INTERVAL; off by default) until ctx ends, and drains the
// instance as soon as the group takes it out of service: readiness turns
// 503 and streamed calls move to other instances while the load balancer
// deregisters this one, before SIGTERM arrives.
func (m *Service) WatchLifecycle(ctx context.Context) {
	lifecycle.New(m.Config.Lifecycle, m.Log).Run(ctx, func(state string) {
		m.Log.Info("draining: leaving the Auto Scaling group", "target_state", state, "streamed_calls", m.Handlers.RelaySessions())
		m.Handlers.Drain()
	})
}

// openStores opens the call store (PostgreSQL when DATABASE_URL is set,
// memory otherwise), the blob store (S3 when S3_BUCKET is set, DATA_DIR
// otherwise) and, with S3_REPLICA_BUCKET, the replica bucket's store, unless
// overridden. The replica's store is built without reaching it: its region
// may be down, and nothing but the erasures needs it.
func (m *Service) openStores(ctx context.Context) error {
	switch {
	case m.Calls != nil:
	case m.Config.Postgres.URL != "":
		db, err := postgres.Open(ctx, m.Config.Postgres)
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		m.Calls = db
		m.closers = append(m.closers, db.Close)
	default:
		m.Calls = memory.New()
		m.Warnings = append(m.Warnings, "calls are kept in memory and lost when the process stops (set DATABASE_URL for PostgreSQL)")
	}
	switch {
	case m.Blobs != nil:
	case m.Config.S3.Bucket != "":
		blobs, err := s3store.New(ctx, m.Config.S3)
		if err != nil {
			return fmt.Errorf("S3_BUCKET: %w", err)
		}
		m.Blobs = blobs
	default:
		blobs, err := localfs.New(m.Config.DataDir)
		if err != nil {
			return fmt.Errorf("DATA_DIR: %w", err)
		}
		m.Blobs = blobs
		m.Warnings = append(m.Warnings, "recordings are stored on local disk in "+m.Config.DataDir+" (set S3_BUCKET for S3)")
	}
	if m.Replica != nil && (m.Config.S3.ReplicaBucket == "" || m.Config.S3.Bucket == "") {
		return fmt.Errorf("a replica store needs S3_BUCKET and S3_REPLICA_BUCKET to name the buckets")
	}
	if rc, ok := m.Config.S3.Replica(); ok && m.Replica == nil {
		replica, err := s3store.New(ctx, rc)
		if err != nil {
			return fmt.Errorf("S3_REPLICA_BUCKET: %w", err)
		}
		m.Replica = replica
	}
	return nil
}

// openAssistant builds the assistant ASSISTANT names, unless overridden.
func (m *Service) openAssistant(ctx context.Context) error {
	if m.AI != nil {
		return nil
	}
	metrics, err := assistant.NewMetrics(m.Registry)
	if err != nil {
		return err
	}
	tools := assistant.HTTPTools{Client: m.outbound()}
	deps := assistant.Deps{Config: m.Config.Model, Metrics: metrics, Logger: m.Log, Tools: tools}
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
		s.Greeting, s.Goodbye = m.Config.Model.Greeting, m.Config.Model.Goodbye
		s.Tools = tools
		m.AI = s
	}
	return nil
}

// DefaultAssistant is the assistant of cfg's environment: it answers every
// number without an assistant of its own, so an empty environment (make
// run) answers calls with no assistant stored.
func DefaultAssistant(cfg Config) (storage.Assistant, error) {
	prompt, err := assistant.LoadPrompt(cfg.Model)
	if err != nil {
		return storage.Assistant{}, err
	}
	var model storage.ModelSettings
	switch cfg.Assistant {
	case "openai":
		t := cfg.OpenAI.Temperature
		model = storage.ModelSettings{Name: cfg.OpenAI.Model, Temperature: &t, MaxTokens: cfg.OpenAI.MaxTokens}
	case "bedrock":
		t := cfg.Bedrock.Temperature
		model = storage.ModelSettings{Name: cfg.Bedrock.ModelID, Temperature: &t, MaxTokens: cfg.Bedrock.MaxTokens}
	}
	started := time.Now().UTC().Truncate(time.Microsecond)
	return storage.Assistant{
		ID:      storage.DefaultAssistantID,
		Version: 0,
		AssistantSettings: storage.AssistantSettings{
			Name:     "Default (the deployment's environment)",
			Prompt:   prompt,
			Greeting: cfg.Model.Greeting,
			Goodbye:  cfg.Model.Goodbye,
			Language: cfg.Language,
			Voice:    cfg.Voice,
			CallMode: storage.CallMode(cfg.CallMode),
			Model:    model,
			Speech:   storage.SpeechLimits{MaxReplyChars: cfg.Model.MaxReplyChars, MaxSilence: cfg.MaxSilence},
		},
		CreatedAt: started,
		UpdatedAt: started,
	}, nil
}

// Addr is the HTTP server's bound address.
func (m *Service) Addr() net.Addr { return m.Server.Addr() }

// Run serves HTTP and runs the workers until ctx is cancelled, then drains
// HTTP and, after it, stops the workers, which give back their work.
func (m *Service) Run(ctx context.Context) error {
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { m.Workers.Run(wctx) })
	wg.Go(func() { m.WatchLifecycle(wctx) })
	err := m.Server.Serve(ctx)
	stopWorkers()
	wg.Wait()
	m.Log.Info("shutdown complete")
	return err
}

// Close releases the stores. Safe to call more than once.
func (m *Service) Close() {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
}

// outbound is the one client for requests to the business (tools, and
// the URL checks of the assistants API), with OUTBOUND_ALLOW_PRIVATE's
// policy; tool answers are bounded like their arguments.
func (m *Service) outbound() *outbound.Client {
	if m.out == nil {
		m.out = outbound.New(outbound.Config{AllowPrivate: m.Config.OutboundAllowPrivate, MaxResponseBytes: storage.MaxToolJSON})
	}
	return m.out
}
