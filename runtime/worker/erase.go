package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"switchboard/storage"
)

// runErasure claims one due pass of a replica erasure and runs it: every
// key of the deleted call's audio is erased in the erasure's bucket, every
// version and delete marker of it (the bucket's store's Delete). It reports
// whether a pass was found.
//
// An erasure is never given up: the replica's region may be down for hours,
// and the audio of a deleted call must go. A failure keeps its error on the
// erasure (and in the logs, and in switchboard_replica_erasures_failing) and
// the pass is retried with the work's backoff, capped at BackoffMax, until
// the replica answers.
func (p *Pool) runErasure(ctx context.Context) bool {
	if p.erasures == nil {
		return false
	}
	e, ok, err := p.erasures.ClaimErasure(context.WithoutCancel(ctx), p.now(), p.cfg.Lease)
	if err != nil {
		p.log.Warn("worker: claiming a replica erasure failed", "err", err.Error())
		return false
	}
	if !ok {
		return false
	}
	log := p.log.With("call_sid", e.CallSID, "bucket", e.Bucket, "erasure_pass", e.Pass, "attempt", e.Attempts, "keys", len(e.Keys))
	// As for work: the pass may run until its lease ends, less a margin to
	// record the outcome; stopping the pool cancels it.
	tctx, cancel := context.WithDeadline(ctx, e.LeaseUntil.Add(-min(p.cfg.Lease/10, 10*time.Second)))
	err = p.eraseKeys(tctx, e)
	cancel()
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bcancel()
	pass := strconv.Itoa(e.Pass)
	switch {
	case err == nil:
		next := p.now().Add(p.cfg.ReplicaRecheck)
		if ferr := p.erasures.FinishErasurePass(bctx, e, next); ferr != nil {
			// The erasure stays pending: its pass runs again, which
			// deleting what is already gone makes harmless.
			log.Warn("worker: recording a replica erasure pass failed", "err", ferr.Error())
			break
		}
		p.metrics.erasures.WithLabelValues(pass, "ok").Inc()
		if e.Pass >= storage.ErasurePasses {
			log.Info("replica erasure done: the deleted call's audio is gone from the bucket")
		} else {
			log.Info("replica erasure pass done", "next_pass_at", next)
		}
	case ctx.Err() != nil:
		if rerr := p.erasures.ReleaseErasure(bctx, e); rerr != nil {
			log.Warn("worker: releasing a replica erasure failed", "err", rerr.Error())
		}
		p.metrics.erasures.WithLabelValues(pass, "released").Inc()
		log.Info("replica erasure released at shutdown")
	default:
		p.failErasure(bctx, e, err, log)
	}
	p.observeBacklog(bctx, true)
	return true
}

// eraseKeys erases each key of e in its bucket, stopping at the first
// failure: the whole pass is retried, and erasing a key again is harmless.
// A bucket this instance has no store for (neither its S3_BUCKET nor its
// S3_REPLICA_BUCKET) fails the pass, which waits, with that error, for an
// instance configured for it.
func (p *Pool) eraseKeys(ctx context.Context, e storage.Erasure) error {
	blobs := p.buckets[e.Bucket]
	if blobs == nil {
		return fmt.Errorf("bucket %q is neither S3_BUCKET nor S3_REPLICA_BUCKET here", e.Bucket)
	}
	for _, key := range e.Keys {
		if err := blobs.Delete(ctx, key); err != nil {
			return fmt.Errorf("erasing %s in bucket %s: %w", key, e.Bucket, err)
		}
	}
	return nil
}

// failErasure records the failed attempt and when to try again. An erasure
// that has failed as often as work is allowed to is reported as an error,
// not given up.
func (p *Pool) failErasure(ctx context.Context, e storage.Erasure, err error, log *slog.Logger) {
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	retryAt := p.now().Add(p.backoff(e.Attempts))
	if ferr := p.erasures.FailErasure(ctx, e, msg, retryAt); ferr != nil && !errors.Is(ferr, storage.ErrConflict) {
		log.Warn("worker: recording a replica erasure failure failed", "err", ferr.Error())
	}
	p.metrics.erasures.WithLabelValues(strconv.Itoa(e.Pass), "retry").Inc()
	if e.Attempts >= p.cfg.MaxAttempts {
		log.Error("replica erasure keeps failing; the deleted call's audio is still in the bucket", "err", msg, "retry_at", retryAt)
		return
	}
	log.Warn("replica erasure failed; will retry", "err", msg, "retry_at", retryAt)
}

// backlogEvery is how often a pool counts the pending erasures when it ran
// none itself, so its gauges follow what other instances did.
const backlogEvery = time.Minute

// observeBacklog sets the erasure gauges from the store, at most once per
// backlogEvery unless force (right after this pool changed an erasure).
func (p *Pool) observeBacklog(ctx context.Context, force bool) {
	if p.erasures == nil {
		return
	}
	now := p.now()
	if force {
		p.lastBacklog.Store(now.UnixNano())
	} else {
		last := p.lastBacklog.Load()
		if last != 0 && now.Sub(time.Unix(0, last)) < backlogEvery {
			return
		}
		if !p.lastBacklog.CompareAndSwap(last, now.UnixNano()) {
			return // another worker of this pool is counting
		}
	}
	b, err := p.erasures.ErasureBacklog(ctx)
	if err != nil {
		p.log.Warn("worker: counting replica erasures failed", "err", err.Error())
		return
	}
	p.metrics.pending.Set(float64(b.Pending))
	p.metrics.failing.Set(float64(b.Failing))
}
