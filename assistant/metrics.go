package assistant

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the per-turn figures of the model-backed assistants. One value
// serves every provider (they are labels), so it is created once per process
// and registered on the registry the process exposes at /metrics.
type Metrics struct {
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"provider", "model", "op", "outcome"}
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchboard",
			Subsystem: "assistant",
			Name:      "request_duration_seconds",
			Help:      "Time to answer a turn or summarize a call, retries included, by outcome.",
			// Turns must finish well inside Twilio's 15 s; summaries may take a minute.
			Buckets: []float64{0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 13, 20, 30, 60},
		}, labels),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard",
			Subsystem: "assistant",
			Name:      "tokens_total",
			Help:      "Tokens sent to (in) and received from (out) the model.",
		}, []string{"provider", "model", "op", "direction"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard",
			Subsystem: "assistant",
			Name:      "retries_total",
			Help:      "Provider requests repeated within a turn's deadline.",
		}, []string{"provider", "model", "op"}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.tokens, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one finished turn or summary.
func (m *Metrics) observe(provider, model, op, outcome string, d time.Duration, attempts int, in, out int64) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(provider, model, op, outcome).Observe(d.Seconds())
	if in > 0 {
		m.tokens.WithLabelValues(provider, model, op, "in").Add(float64(in))
	}
	if out > 0 {
		m.tokens.WithLabelValues(provider, model, op, "out").Add(float64(out))
	}
	if attempts > 1 {
		m.retries.WithLabelValues(provider, model, op).Add(float64(attempts - 1))
	}
}
