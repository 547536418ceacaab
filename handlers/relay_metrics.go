package handlers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// relayMetrics describe streamed calls: how fast replies reach the caller,
// the sockets held and why they closed, and the messages exchanged. Every
// label value is a constant.
type relayMetrics struct {
	latency  *prometheus.HistogramVec
	sessions prometheus.Gauge
	closed   *prometheus.CounterVec
	frames   *prometheus.CounterVec
	// takeovers count what sockets that take over a call do (resumed,
	// replayed, reply_cut) and fallbacks to <Gather>.
	takeovers *prometheus.CounterVec
	// drainWaiting is the streamed calls a draining instance without
	// applicationReconnect waits for.
	drainWaiting prometheus.Gauge
}

// Latency stages, measured from the caller's prompt.
const (
	stageFirstToken = "first_token" // the model's first token
	stageFirstText  = "first_text"  // the first text frame sent to Twilio
	stageLastText   = "last_text"   // the last text frame sent
)

func newRelayMetrics(r prometheus.Registerer) *relayMetrics {
	m := &relayMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_relay_turn_latency_seconds",
			Help:    "Streamed replies: time from the caller's prompt to the model's first token, the first text frame and the last text frame.",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 8, 13},
		}, []string{"stage"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_relay_sessions",
			Help: "ConversationRelay WebSockets this instance holds.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_relay_sessions_closed_total",
			Help: "ConversationRelay WebSockets closed, by reason (peer, end, draining, too_large, malformed, flood, timeout, write_failed, policy, store).",
		}, []string{"reason"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_relay_messages_total",
			Help: "ConversationRelay messages received (in) and sent (out), by type.",
		}, []string{"direction", "type"}),
	}
	m.takeovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_relay_takeovers_total",
		Help: "Streamed calls moving between sockets: replies cut by a lost socket (reply_cut), unanswered turns a new socket answered (resumed), replayed prompts it had answered already (replayed), sessions handed to <Gather> (fallback).",
	}, []string{"event"})
	m.drainWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_relay_drain_waiting_calls",
		Help: "Streamed calls a draining instance waits for because they cannot reconnect elsewhere (RELAY_APPLICATION_RECONNECT=false).",
	})
	r.MustRegister(m.latency, m.sessions, m.closed, m.frames, m.takeovers, m.drainWaiting)
	return m
}

func (m *relayMetrics) observe(stage string, d time.Duration) {
	m.latency.WithLabelValues(stage).Observe(d.Seconds())
}
