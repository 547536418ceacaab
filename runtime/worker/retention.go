package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchboard/storage"
)

// MaxRetentionDays bounds RETENTION_DAYS: a hundred years.
const MaxRetentionDays = 36500

// RetentionStep deletes, in batches of at most limit, data of another kind
// kept past the retention window, such as event deliveries: the store's
// method is the step, and the pool runs every step after the calls in
// each retention round, until a batch comes back short. It returns how
// many it deleted.
type RetentionStep struct {
	// Name says what the step deletes, in the logs ("deliveries").
	Name  string
	Purge func(ctx context.Context, before time.Time, limit int) (int, error)
}

// retentionEvery is how often each pool runs a retention round;
// retentionBatches bounds the batches of one round per kind, so a backlog
// (retention turned on over years of calls) drains over several rounds
// without holding up the other work.
const (
	retentionEvery   = 10 * time.Minute
	retentionBatches = 20
)

// retentionWindow is RETENTION_DAYS; 0 when calls are kept forever.
func (p *Pool) retentionWindow() time.Duration {
	return time.Duration(p.cfg.RetentionDays) * 24 * time.Hour
}

// retain runs a retention round unless this pool did within
// retentionEvery (or force): batches of RETENTION_BATCH calls created
// before the window are expired, each in its own transaction, then the
// other kinds' steps run. Any instance may run it: a call another
// instance is expiring is locked and skipped. It returns how many calls
// it expired.
func (p *Pool) retain(ctx context.Context, force bool) int {
	if p.retention == nil || p.cfg.RetentionDays <= 0 {
		return 0
	}
	now := p.now()
	last := p.lastRetain.Load()
	if !force && last != 0 && now.Sub(time.Unix(0, last)) < retentionEvery {
		return 0
	}
	if !p.lastRetain.CompareAndSwap(last, now.UnixNano()) {
		return 0 // another worker of this pool is at it
	}
	before := now.Add(-p.retentionWindow())
	total, limit := 0, p.cfg.RetentionBatch
	for range retentionBatches {
		n, err := p.retention.ExpireCalls(ctx, before, limit, storage.DeleteOptions{ReplicaBucket: p.replicaBucket})
		if errors.Is(err, storage.ErrUnavailable) && limit > 1 && ctx.Err() == nil {
			// A batch the database could not finish in DB_QUERY_TIMEOUT
			// rolled back whole; a smaller one may fit. The next round
			// starts from RETENTION_BATCH again.
			limit = max(1, limit/2)
			p.log.Warn("worker: a retention batch failed; trying smaller ones", "err", err.Error(), "batch", limit)
			continue
		}
		if err != nil {
			p.log.Warn("worker: expiring calls past the retention window failed", "err", err.Error())
			break
		}
		total += n
		p.metrics.expired.Add(float64(n))
		if n < limit {
			break
		}
	}
	if total > 0 {
		p.log.Info("calls past the retention window deleted", "count", total, "created_before", before)
	}
	for _, step := range p.retentionSteps {
		done := 0
		for range retentionBatches {
			n, err := step.Purge(ctx, before, p.cfg.RetentionBatch)
			if err != nil {
				p.log.Warn("worker: a retention step failed", "step", step.Name, "err", err.Error())
				break
			}
			done += n
			if n < p.cfg.RetentionBatch {
				break
			}
		}
		if done > 0 {
			p.log.Info("data past the retention window deleted", "step", step.Name, "count", done, "created_before", before)
		}
	}
	return total
}

// runPurge claims one due purge of the audio of a call deleted through
// the API or past its retention, and runs it: every key in the blob store
// (every version of it, on a versioned bucket) and every recording's
// media at Twilio. It reports whether one was found. Like a replica
// erasure, a purge is never given up: the audio of a deleted call must
// go; a failure keeps its error and is retried with the work's backoff.
func (p *Pool) runPurge(ctx context.Context) bool {
	if p.retention == nil {
		return false
	}
	pu, ok, err := p.retention.ClaimPurge(context.WithoutCancel(ctx), p.now(), p.cfg.Lease)
	if err != nil {
		p.log.Warn("worker: claiming an audio purge failed", "err", err.Error())
		return false
	}
	if !ok {
		return false
	}
	log := p.log.With("call_sid", pu.CallSID, "attempt", pu.Attempts, "keys", len(pu.Keys), "media", len(pu.Media))
	tctx, cancel := context.WithDeadline(ctx, pu.LeaseUntil.Add(-min(p.cfg.Lease/10, 10*time.Second)))
	err = p.purgeAudio(tctx, pu, log)
	cancel()
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bcancel()
	switch {
	case err == nil:
		if ferr := p.retention.FinishPurge(bctx, pu); ferr != nil {
			// It runs again; deleting what is gone already is harmless.
			log.Warn("worker: recording a finished audio purge failed", "err", ferr.Error())
			break
		}
		p.metrics.purges.WithLabelValues("ok").Inc()
		log.Info("deleted call's audio removed from the blob store and Twilio")
	case ctx.Err() != nil:
		if rerr := p.retention.ReleasePurge(bctx, pu); rerr != nil {
			log.Warn("worker: releasing an audio purge failed", "err", rerr.Error())
		}
		p.metrics.purges.WithLabelValues("released").Inc()
	default:
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		retryAt := p.now().Add(p.backoff(pu.Attempts))
		if ferr := p.retention.FailPurge(bctx, pu, msg, retryAt); ferr != nil && !errors.Is(ferr, storage.ErrConflict) {
			log.Warn("worker: recording an audio purge failure failed", "err", ferr.Error())
		}
		p.metrics.purges.WithLabelValues("retry").Inc()
		level := slog.LevelWarn
		if pu.Attempts >= p.cfg.MaxAttempts {
			level = slog.LevelError
		}
		log.Log(bctx, level, "deleting a call's audio failed; will retry", "err", msg, "retry_at", retryAt)
	}
	return true
}

// purgeAudio deletes pu's blobs, then its media at Twilio, stopping at the
// first failure: the whole purge is retried, and deleting again is
// harmless (a missing blob and Twilio's 404 are success).
func (p *Pool) purgeAudio(ctx context.Context, pu storage.Purge, log *slog.Logger) error {
	for _, key := range pu.Keys {
		if err := p.blobs.Delete(ctx, key); err != nil {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
	}
	if len(pu.Media) == 0 {
		return nil
	}
	if p.twilio == nil || p.twilio.AuthToken == "" {
		// Development without Twilio credentials: there is no account to
		// delete from, and asking would only be refused.
		log.Warn("deleted call's media not deleted at Twilio: TWILIO_AUTH_TOKEN is not set")
		return nil
	}
	for _, m := range pu.Media {
		if err := p.twilio.DeleteMedia(ctx, storage.Recording{AccountSID: m.AccountSID, SID: m.RecordingSID}); err != nil {
			return fmt.Errorf("deleting recording %s at Twilio: %w", m.RecordingSID, err)
		}
	}
	return nil
}
