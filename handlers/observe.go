package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	localRequestID = "request_id"
	localLogger    = "logger"
)

// requestContext gives the request an id — the ALB's X-Amzn-Trace-Id root
// when present, so log lines join the load balancer's — and a logger that
// carries it. The id is echoed in X-Request-Id.
func (s *Server) requestContext(c *fiber.Ctx) error {
	var id string
	if s.reqID != nil {
		id = sanitizeID(s.reqID(c.UserContext()))
	}
	if id == "" {
		id = traceRoot(c.Get("X-Amzn-Trace-Id"))
	}
	if id == "" {
		id = sanitizeID(c.Get(fiber.HeaderXRequestID))
	}
	if id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	// A client-supplied id aliases the request buffer, which fasthttp
	// reuses; the logger keeps it beyond this request's handlers.
	id = strings.Clone(id)
	c.Locals(localRequestID, id)
	c.Locals(localLogger, s.log.With("request_id", id))
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

// traceRoot returns the Root field of an X-Amzn-Trace-Id header
// ("Root=1-67891233-abcdef012345678912345678;Parent=…"), or "".
func traceRoot(h string) string {
	for part := range strings.SplitSeq(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok {
			return sanitizeID(v)
		}
	}
	return ""
}

// sanitizeID accepts a client-supplied id only if it is short and plain, so
// it cannot inject anything into logs.
func sanitizeID(s string) string {
	if s == "" || len(s) > 128 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return s
}

// logger returns the request's logger (request id, and CallSid once known).
func (s *Server) logger(c *fiber.Ctx) *slog.Logger {
	if l, ok := c.Locals(localLogger).(*slog.Logger); ok {
		return l
	}
	return s.log
}

func (s *Server) setCallLogger(c *fiber.Ctx, callSID string) {
	c.Locals(localLogger, s.logger(c).With("call_sid", callSID))
}

// maskPhone keeps enough of a phone number to tell calls apart in logs
// without writing the number itself: "+14155550123" → "+1415•••••23".
func maskPhone(p string) string {
	if len(p) <= 6 {
		return strings.Repeat("•", len(p))
	}
	return p[:5] + strings.Repeat("•", len(p)-7) + p[len(p)-2:]
}

type metrics struct {
	requests *prometheus.HistogramVec
	turns    *prometheus.CounterVec
	up       *prometheus.GaugeVec
}

func newMetrics(r *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"route", "method", "status"}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turns_total",
			Help: "Assistant turns by outcome (ok, failed, duplicate, silence).",
		}, []string{"outcome"}),
	}
	m.up = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_dependency_up",
		Help: "Whether a store answered the last readiness check (1) or not (0): calls (fails readiness) and blobs (reported only).",
	}, []string{"dependency"})
	r.MustRegister(m.requests, m.turns, m.up)
	return m
}

// respond finishes every routed request in one place: an error returned by
// any handler or middleware below becomes its response here and only here
// (so it is logged once), a webhook marked for capture is handed to the
// capture hook with its final response, and the request's latency and
// status are recorded, labelled by the route pattern (never the raw path,
// whose SIDs would explode the label set), a method from a fixed set and
// the status: every label value is a constant or a fresh string, never a
// view of fasthttp's reused request buffer, which the registry would keep
// and later requests would overwrite. (Fiber's own ErrorHandler, also
// errorHandler, sees only what fails before routing: a body over the limit
// read by the listener, an event the Lambda adapter cannot use.)
func (s *Server) respond(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	if capture, _ := c.Locals(localCapture).(bool); capture && s.capture != nil {
		s.capture(c)
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if route == "/" || route == "" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	method := methodLabel(c.Method())
	s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(elapsed.Seconds())
	s.logger(c).Debug("request", "method", method, "route", route, "status", status,
		"ms", float64(elapsed.Microseconds())/1000, "client_ip", c.IP())
	return nil
}

func (s *Server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
}
