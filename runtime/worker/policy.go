package worker

import (
	"time"

	"switchboard/storage"
)

// Policy is how one kind of work is retried: after failed attempt n it
// waits Base·2^(n-1), capped at Max, with ±20 % jitter so the retries of
// many items spread out; it gives up after MaxAttempts attempts (when
// set) or once the next attempt would start more than Window after the
// work was created (when set).
type Policy struct {
	Base, Max   time.Duration
	MaxAttempts int
	Window      time.Duration
}

// delay is the wait after failed attempt n, jittered.
func (p Policy) delay(attempt int) time.Duration {
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return jitter(min(d, p.Max))
}

// Next returns when the attempt after failed attempt n (counted from 1)
// may start, for work created at created and failed at now; ok is false
// when the policy gives up instead.
func (p Policy) Next(attempt int, created, now time.Time) (at time.Time, ok bool) {
	if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
		return time.Time{}, false
	}
	at = now.Add(p.delay(attempt))
	if p.Window > 0 && at.Sub(created) > p.Window {
		return time.Time{}, false
	}
	return at, true
}

// policies are the retry policies of the work queue's kinds. Archiving,
// summaries, analyses and media deletion talk to Twilio and the model,
// whose outages last minutes: WORKER_BACKOFF_* and WORKER_MAX_ATTEMPTS
// shape them (about 20 minutes by default). Event deliveries wait on the
// business's own systems, which may be down for hours: they have their
// own policy (WEBHOOK_*), a day by default.
func (c Config) policies() map[storage.WorkKind]Policy {
	work := Policy{Base: c.BackoffBase, Max: c.BackoffMax, MaxAttempts: c.MaxAttempts}
	return map[storage.WorkKind]Policy{
		storage.WorkArchiveRecording:  work,
		storage.WorkSummarizeCall:     work,
		storage.WorkAnalyzeCall:       work,
		storage.WorkDeleteTwilioMedia: work,
	}
}

// DeliveryPolicy is the retry policy of event deliveries.
func (c Config) DeliveryPolicy() Policy {
	return Policy{Base: c.Webhooks.BackoffBase, Max: c.Webhooks.BackoffMax, Window: c.Webhooks.RetryWindow}
}

// policy returns the retry policy of a kind of work; a kind without one
// of its own gets the work queue's default.
func (p *Pool) policy(kind storage.WorkKind) Policy {
	if pol, ok := p.policies[kind]; ok {
		return pol
	}
	return Policy{Base: p.cfg.BackoffBase, Max: p.cfg.BackoffMax, MaxAttempts: p.cfg.MaxAttempts}
}
