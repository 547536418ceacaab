// Package handlers is switchboard's Fiber app: the Twilio webhooks that run a
// call, the calls API for the people who review calls, the assistants and
// numbers API, the event endpoints API, its OpenAPI document, health endpoints and metrics. Every route is registered in (*Server).routes; errors of the
// storage kinds become HTTP statuses in exactly one place, errorHandler.
//
// The handlers keep nothing about a call in process memory between requests:
// any instance behind the load balancer may receive any webhook.
package handlers

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"switchboard/assistant"
	"switchboard/handlers/console"
	"switchboard/handlers/twiliosig"
	"switchboard/runtime/outbound"
	"switchboard/storage"
)

// Config is the handlers' behaviour, as configured by the operator.
type Config struct {
	// PublicBaseURL is the URL Twilio uses to reach the service: a scheme and
	// host (https://voice.example.com), and optionally a path when the
	// service lives under one (an API Gateway stage or base path mapping:
	// https://abc.execute-api.eu-west-1.amazonaws.com/prod). Requests under
	// the path are routed on the rest; signatures are checked against the
	// URL as Twilio requested it, never the Host or forwarded headers; every
	// URL in TwiML is absolute under it.
	PublicBaseURL string
	// AuthToken is the Twilio auth token. Empty disables signature checks
	// (development only).
	AuthToken string
	// NextAuthToken, during a token rotation, is also accepted: set it to
	// the secondary token before promoting it in Twilio, so webhooks signed
	// with either verify and no request is refused in between.
	NextAuthToken string
	// APITokens are the bearer tokens accepted by /api. Empty leaves the API
	// open (development only).
	APITokens []string
	// Language and Voice are used for <Say> and speech recognition.
	Language string
	Voice    string
	// Greeting is said when the assistant has no greeting of its own to
	// give (it failed, or said nothing).
	Greeting string
	// TurnTimeout bounds one assistant answer; the caller hears an apology when
	// it passes. It must leave room in Twilio's 15 s for the store round trips.
	TurnTimeout time.Duration
	// RequestTimeout bounds the store work of one request.
	RequestTimeout time.Duration
	// MaxSilence is how many times a silent caller is asked again before the
	// call ends.
	MaxSilence int
	// MaxFailures is how many assistant failures in a row end the call.
	MaxFailures int
	// TwilioAPIBaseURL is the only origin recordings are downloaded from.
	TwilioAPIBaseURL string
	// RecordingURLTTL is the lifetime of presigned audio links.
	RecordingURLTTL time.Duration
	// MaxBody bounds a webhook body, also under runtimes that do not enforce
	// Fiber's BodyLimit.
	MaxBody int
	// Console configures the web console; an empty session key is
	// replaced by a random one (development).
	Console console.Config
	// SecureCookies marks the console's cookies Secure and sends HSTS:
	// every deployment but a development one on plain HTTP.
	SecureCookies bool
	// CallMode is ModeGather or ModeRelay: how the default assistant's
	// calls run ("" is gather). Other assistants say so in their call_mode.
	CallMode string
	// RedactStored says the call store redacts personal data before it
	// keeps it (REDACT=all): what it returns differs from what was said,
	// so replays are recognised by their redacted form and a fresh reply
	// is spoken as the assistant wrote it.
	RedactStored bool
	// RawModelInput gives the model the caller's current words as said,
	// not as stored (REDACT_MODEL_INPUT=false with REDACT=all); earlier
	// turns come from the store, redacted, either way.
	RawModelInput bool
	// Streaming: this instance serves ConversationRelay sockets, so calls
	// whose assistant's call mode is relay are streamed. Off under Lambda,
	// which cannot hold a socket: such calls then run with <Gather>.
	Streaming bool
	// Relay shapes streamed calls (ModeRelay).
	Relay RelayConfig
	// ReplicaBucket (S3_REPLICA_BUCKET), when set, makes deleting a call
	// record the erasure of its audio in that bucket, which the workers
	// carry out: the request itself never waits on the other region.
	ReplicaBucket string
}

// Deps are the collaborators of the handlers.
type Deps struct {
	// Calls serves the API and readiness; Writes records what the webhooks
	// report. The stores implement both.
	Calls     storage.CallStore
	Writes    storage.CallWriter
	Blobs     storage.BlobStore
	Assistant assistant.Assistant
	// Assistants, Numbers and Analyses serve the assistants API; Versions
	// resolves the assistant version each call runs with (its default is
	// the deployment's own assistant).
	Assistants storage.Assistants
	Numbers    storage.Numbers
	Analyses   storage.Analyses
	Versions   *assistant.Versions
	// Endpoints serves the event endpoints API; when nil, Calls serves it
	// if it can.
	Endpoints storage.Endpoints
	// Outbound checks the URLs of business tools when they are configured;
	// nil checks only their shape.
	Outbound *outbound.Client
	Log      *slog.Logger
	// Registry receives the handlers' metrics and is served at /metrics.
	Registry *prometheus.Registry
	// WorkReady, when set, is called after a request enqueued background
	// work, so a local worker can start at once instead of at its next poll.
	WorkReady func()
	// Capture, when set, sees every /twilio request and the response it got.
	Capture func(c *fiber.Ctx)
	// RequestID, when set, names the request from its context (under
	// Lambda, the invocation's request id) before any header is consulted.
	RequestID func(ctx context.Context) string
	// AltTargets, when set, returns other request targets (path and query)
	// the request may have had when Twilio signed it, from its context:
	// under Lambda, REST and ALB events carry the query as a map, whose
	// original order and escaping the runtime can only guess.
	AltTargets func(ctx context.Context) []string
	// CaptureRefused hands the capture hook requests refused for their
	// signature too (for generating fixtures); by default only requests
	// that passed the check are captured, so unauthenticated senders
	// cannot fill the capture folder.
	CaptureRefused bool
}

// Server holds the handlers' dependencies. Create it with New.
type Server struct {
	transfers  storage.TransferWriter // nil when the store cannot record transfers
	outbound   *outbound.Client
	cfg        Config
	calls      storage.CallStore
	writes     storage.CallWriter
	blobs      storage.BlobStore
	ai         assistant.Assistant
	assistants storage.Assistants
	numbers    storage.Numbers
	analyses   storage.Analyses
	versions   *assistant.Versions
	endpoints  storage.Endpoints
	log        *slog.Logger
	registry   *prometheus.Registry
	metrics    *metrics
	workReady  func()
	capture    func(c *fiber.Ctx)
	captureAll bool
	reqID      func(ctx context.Context) string
	altTargets func(ctx context.Context) []string

	// origin and basePath split PublicBaseURL: requests under basePath are
	// routed on the rest of their path.
	origin, basePath string
	signatures       *twiliosig.Checker
	routeTable       []fiber.Route

	turns    singleflight.Group // one assistant request per (call, turn) per process
	draining atomic.Bool
	console  *consoleState
	relay    *relayState
}

// New returns a Server. Every Config field is the operator's setting (the
// defaults are the configuration's env tags, see runtime/service); only
// missing collaborators get stand-ins: the default logger, a fresh metrics
// registry, no worker to wake.
func New(cfg Config, d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.WorkReady == nil {
		d.WorkReady = func() {}
	}
	origin, basePath := splitBaseURL(cfg.PublicBaseURL)
	cfg.PublicBaseURL = origin + basePath
	transfers, _ := d.Writes.(storage.TransferWriter)
	if d.Endpoints == nil {
		d.Endpoints, _ = d.Calls.(storage.Endpoints)
	}
	return &Server{
		transfers:  transfers,
		outbound:   d.Outbound,
		console:    newConsole(cfg, basePath),
		origin:     origin,
		basePath:   basePath,
		signatures: twiliosig.NewChecker(cfg.AuthToken, cfg.NextAuthToken),
		captureAll: d.CaptureRefused,
		altTargets: d.AltTargets,
		cfg:        cfg,
		calls:      d.Calls,
		writes:     d.Writes,
		blobs:      d.Blobs,
		ai:         d.Assistant,
		assistants: d.Assistants,
		numbers:    d.Numbers,
		analyses:   d.Analyses,
		versions:   d.Versions,
		endpoints:  d.Endpoints,
		log:        d.Log,
		registry:   d.Registry,
		metrics:    newMetrics(d.Registry),
		workReady:  d.WorkReady,
		capture:    d.Capture,
		reqID:      d.RequestID,
		relay: &relayState{cfg: cfg.Relay, metrics: newRelayMetrics(d.Registry),
			sessions: make(map[*relaySession]struct{})},
	}
}

// Drain makes /readyz answer 503 so the load balancer stops sending new
// requests; everything else keeps being served, except streamed calls:
// with applicationReconnect their sockets end once the reply in flight is
// done, so Twilio reconnects through the load balancer to another
// instance; without it they are waited for (relay_drain.go). Calling it
// again changes nothing.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.closeRelays()
}

// App returns the Fiber app with every route. base carries the runtime's
// settings (timeouts, body limit, proxy trust); App adds the error handler.
// first are middleware the runtime needs ahead of everything (under Lambda,
// the one that carries the invocation's context).
func (s *Server) App(base fiber.Config, first ...fiber.Handler) *fiber.App {
	base.ErrorHandler = s.errorHandler
	base.DisableStartupMessage = true
	// Nothing here parses multipart bodies; fasthttp would otherwise parse
	// one before any handler could refuse it.
	base.DisablePreParseMultipartForm = true
	app := fiber.New(base)
	for _, h := range first {
		app.Use(h)
	}
	s.routes(app)
	s.routeTable = app.GetRoutes(true)
	app.Server().Handler = s.guard(app.Server().Handler)
	return app
}

// routes registers every route of the service.
func (s *Server) routes(app *fiber.App) {
	app.Use(s.requestContext, s.respond, s.edge)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	// Metrics describe traffic and failures: like the API, they need a token.
	app.Get("/metrics", s.requireToken, s.metricsHandler())

	tw := app.Group("/twilio", s.twilioRequest)
	tw.Post("/voice", s.voice)
	tw.Post("/gather", s.gather)
	tw.Post("/status", s.status)
	tw.Post("/recording", s.recording)
	tw.Post("/fallback", s.fallback)
	tw.Post("/relay/action", s.relayAction)
	tw.Post("/whisper", s.whisper)
	tw.Post("/transfer", s.transferAction)
	tw.Get("/relay/:sid", s.relayHandshake, s.relaySocket())

	api := app.Group("/api/v1", s.requireToken)
	api.Get("/openapi.json", s.openAPI)
	api.Get("/calls", s.listCalls)
	api.Get("/calls/:sid", s.getCall)
	api.Delete("/calls/:sid", s.deleteCall)
	api.Get("/calls/:sid/recordings/:rsid/audio", s.recordingAudio)
	api.Get("/assistants", s.listAssistants)
	api.Post("/assistants", s.createAssistant)
	api.Get("/assistants/:id", s.getAssistant)
	api.Put("/assistants/:id", s.putAssistant)
	api.Patch("/assistants/:id", s.patchAssistant)
	api.Delete("/assistants/:id", s.deleteAssistant)
	api.Get("/assistants/:id/versions/:version", s.getAssistantVersion)
	api.Post("/assistants/:id/reanalyze", s.reanalyze)
	api.Get("/analysis-runs/:run", s.getAnalysisRun)
	api.Get("/numbers", s.listNumbers)
	api.Post("/numbers", s.addNumber)
	api.Get("/numbers/:number", s.getNumber)
	api.Delete("/numbers/:number", s.deleteNumber)
	api.Get("/webhooks", s.listEndpoints)
	api.Post("/webhooks", s.createEndpoint)
	api.Get("/webhooks/:id", s.getEndpoint)
	api.Patch("/webhooks/:id", s.patchEndpoint)
	api.Delete("/webhooks/:id", s.deleteEndpoint)
	api.Get("/webhooks/:id/deliveries", s.listDeliveries)

	// The console: its pages are the console's and answer errors as
	// pages; every page but sign-in needs a signed-in person, and every
	// form that changes something a CSRF token.
	con := app.Group("/console", s.consoleRequest)
	con.Get("/", s.consoleHome)
	con.Get("/assets/:name", s.consoleAsset)
	con.Get("/sign-in", s.consoleSignInForm)
	con.Post("/sign-in", s.consoleSignIn)
	con.Post("/sign-out", s.consoleAuth, s.consoleCSRF, s.consoleSignOut)
	con.Get("/calls", s.consoleAuth, s.consoleCalls)
	con.Get("/calls/:sid", s.consoleAuth, s.consoleCall)
	con.Get("/calls/:sid/delete", s.consoleAuth, s.consoleDeleteForm)
	con.Post("/calls/:sid/delete", s.consoleAuth, s.consoleCSRF, s.consoleDelete)
	con.Get("/calls/:sid/recordings/:rsid/audio", s.consoleAuth, s.consoleAudio)
	con.Get("/live", s.consoleAuth, s.consoleLive)
	con.Get("/live/rows", s.consoleAuth, s.consoleLiveRows)
	con.Get("/assistants", s.consoleAuth, s.consoleAssistants)
	con.Get("/assistants/new", s.consoleAuth, s.consoleNewAssistant)
	con.Post("/assistants/new", s.consoleAuth, s.consoleCSRF, s.consoleCreateAssistant)
	con.Get("/assistants/:id", s.consoleAuth, s.consoleAssistant)
	con.Post("/assistants/:id", s.consoleAuth, s.consoleCSRF, s.consoleUpdateAssistant)
	con.Get("/assistants/:id/delete", s.consoleAuth, s.consoleDeleteAssistantForm)
	con.Post("/assistants/:id/delete", s.consoleAuth, s.consoleCSRF, s.consoleDeleteAssistant)
	con.Get("/numbers", s.consoleAuth, s.consoleNumbers)
	con.Post("/numbers", s.consoleAuth, s.consoleCSRF, s.consoleAddNumber)
	con.Get("/numbers/:number/delete", s.consoleAuth, s.consoleRemoveNumberForm)
	con.Post("/numbers/:number/delete", s.consoleAuth, s.consoleCSRF, s.consoleRemoveNumber)

	app.Use(s.notFound)
}

// storeContext bounds the store work of one request, inside any deadline the
// runtime already set (under Lambda, the invocation's).
func (s *Server) storeContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout)
}

func itoa(n int) string { return strconv.Itoa(n) }
