// Package worker runs switchboard's durable background work: archiving
// recordings from Twilio into the blob store, writing post-call summaries
// and analyses (and re-analyses), deleting archived media at Twilio,
// erasing deleted calls' audio in the replica bucket, deleting calls past
// the retention window (RETENTION_DAYS) with their audio everywhere, and
// delivering events to the business's endpoints, on workers of their own.
// Work lives in the call store, claimed with a lease, so any instance may
// run it and an instance that dies loses nothing: the lease expires and
// another instance finishes the work.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/runtime/outbound"
	"switchboard/storage"
)

// Config is the worker pool's configuration, read from the environment.
type Config struct {
	// Size is the number of concurrent workers; 0 runs none, and no
	// delivery workers either (under Lambda, or for instances that only
	// answer webhooks).
	Size int `env:"WORKERS" envDefault:"4"`
	// PollInterval is how often an idle worker looks for due work.
	PollInterval time.Duration `env:"WORKER_POLL_INTERVAL" envDefault:"2s"`
	// Lease is how long a claimed item is held; an instance that dies holds
	// its work at most this long. Each attempt is bounded by it.
	Lease time.Duration `env:"WORKER_LEASE" envDefault:"5m"`
	// MaxAttempts gives up on an item (recording marked failed) after this
	// many attempts.
	MaxAttempts int `env:"WORKER_MAX_ATTEMPTS" envDefault:"8"`
	// BackoffBase and BackoffMax shape the retry delay: base·2^(attempt-1),
	// capped, with jitter.
	BackoffBase time.Duration `env:"WORKER_BACKOFF_BASE" envDefault:"5s"`
	BackoffMax  time.Duration `env:"WORKER_BACKOFF_MAX" envDefault:"10m"`
	// SummaryTimeout bounds one summary attempt. It is the assistant's
	// ASSISTANT_SUMMARY_TIMEOUT (runtime/service sets it), not a setting of
	// its own.
	SummaryTimeout time.Duration `env:"-"`
	// DeleteAfterArchive deletes the media at Twilio once it is safely stored.
	DeleteAfterArchive bool `env:"TWILIO_DELETE_AFTER_ARCHIVE" envDefault:"false"`
	// TombstoneRetention is how long a deleted call's SID is remembered, so
	// that Twilio's late webhooks for it store nothing; the workers purge
	// older tombstones.
	TombstoneRetention time.Duration `env:"TOMBSTONE_RETENTION" envDefault:"720h"`
	// RetentionDays is how long calls are kept: the workers delete every
	// call created longer ago than that, with everything it owns and its
	// audio (see retention.go). 0 keeps calls forever.
	RetentionDays int `env:"RETENTION_DAYS" envDefault:"0"`
	// RetentionBatch bounds how many calls one retention pass deletes in
	// one transaction, so a large backlog (retention turned on for a
	// years-old database) never holds long locks or a huge transaction.
	RetentionBatch int `env:"RETENTION_BATCH" envDefault:"500"`
	// ReplicaRecheck is how long after an erasure's first pass in the
	// replica bucket the second pass runs: a version still replicating
	// at the first pass lands later, and S3 replication takes up to 15
	// minutes for nearly every object (its Replication Time Control
	// promise). Used only with a replica bucket.
	ReplicaRecheck time.Duration `env:"S3_REPLICA_RECHECK" envDefault:"15m"`
	// Webhooks configures event deliveries.
	Webhooks WebhookConfig
}

// WebhookConfig shapes event deliveries to the business's endpoints. They
// run on workers of their own, so a slow or failing endpoint never holds
// up archiving, summaries or analyses, and each endpoint gets at most
// PerEndpoint of them at once, so it cannot hold up the other endpoints.
type WebhookConfig struct {
	// Workers is the number of concurrent delivery workers (each also
	// fans events out into deliveries); 0 delivers nothing.
	Workers int `env:"WEBHOOK_WORKERS" envDefault:"4"`
	// PerEndpoint bounds the deliveries in flight to one endpoint, across
	// every instance.
	PerEndpoint int `env:"WEBHOOK_CONCURRENCY_PER_ENDPOINT" envDefault:"2"`
	// Timeout bounds one delivery attempt, the endpoint's answer included.
	Timeout time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s"`
	// RetryWindow is how long a delivery is retried before it fails and
	// its endpoint is disabled; BackoffBase and BackoffMax shape the
	// delays in between (see Policy).
	RetryWindow time.Duration `env:"WEBHOOK_RETRY_WINDOW" envDefault:"24h"`
	BackoffBase time.Duration `env:"WEBHOOK_BACKOFF_BASE" envDefault:"5s"`
	BackoffMax  time.Duration `env:"WEBHOOK_BACKOFF_MAX" envDefault:"1h"`
}

// Validate reports every problem at once, naming the variable.
func (c WebhookConfig) Validate() error {
	var errs []error
	if c.Workers < 0 || c.Workers > 256 {
		errs = append(errs, errors.New("WEBHOOK_WORKERS must be from 0 to 256"))
	}
	if c.PerEndpoint < 1 || c.PerEndpoint > 64 {
		errs = append(errs, errors.New("WEBHOOK_CONCURRENCY_PER_ENDPOINT must be from 1 to 64"))
	}
	// The outbound client bounds every request at 10s too.
	if c.Timeout < 100*time.Millisecond || c.Timeout > 10*time.Second {
		errs = append(errs, errors.New("WEBHOOK_TIMEOUT must be from 100ms to 10s"))
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("WEBHOOK_BACKOFF_BASE must be positive and at most WEBHOOK_BACKOFF_MAX"))
	}
	if c.RetryWindow < c.BackoffBase {
		errs = append(errs, errors.New("WEBHOOK_RETRY_WINDOW must be at least WEBHOOK_BACKOFF_BASE"))
	}
	return errors.Join(errs...)
}

// DefaultConfig is the configuration with every default applied, for
// callers that do not read the environment. The defaults are the env tags'
// and nowhere else. TOMBSTONE_RETENTION's default is far longer than Twilio
// goes on sending a call's callbacks.
func DefaultConfig() Config {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		panic("worker: the Config defaults do not parse: " + err.Error())
	}
	return c
}

// Validate reports every problem at once, naming the variable.
func (c Config) Validate() error {
	var errs []error
	if c.Size < 0 || c.Size > 256 {
		errs = append(errs, errors.New("WORKERS must be from 0 to 256"))
	}
	if c.PollInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("WORKER_POLL_INTERVAL must be at least 10ms"))
	}
	if c.Lease < time.Second {
		errs = append(errs, errors.New("WORKER_LEASE must be at least 1s"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, errors.New("WORKER_MAX_ATTEMPTS must be at least 1"))
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("WORKER_BACKOFF_BASE must be positive and at most WORKER_BACKOFF_MAX"))
	}
	if c.SummaryTimeout <= 0 {
		errs = append(errs, errors.New("ASSISTANT_SUMMARY_TIMEOUT must be positive"))
	}
	if c.TombstoneRetention < time.Hour {
		errs = append(errs, errors.New("TOMBSTONE_RETENTION must be at least 1h: Twilio sends a call's last callbacks after it ended"))
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("RETENTION_DAYS must be from 0 (keep calls forever) to %d", MaxRetentionDays))
	}
	if c.RetentionBatch < 1 || c.RetentionBatch > 10000 {
		errs = append(errs, errors.New("RETENTION_BATCH must be from 1 to 10000"))
	}
	if c.ReplicaRecheck < time.Second {
		errs = append(errs, errors.New("S3_REPLICA_RECHECK must be at least 1s"))
	}
	if err := c.Webhooks.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Deps are the pool's collaborators.
type Deps struct {
	// Calls reads the call or recording a work item is about.
	Calls storage.CallReader
	// Work is the durable work queue the call store keeps.
	Work storage.WorkQueue
	// Analyses stores analyses and reads the runs that redo them; Versions
	// resolves the assistant version a call ran with (or a run uses).
	Analyses  storage.Analyses
	Versions  *assistant.Versions
	Blobs     storage.BlobStore
	Assistant assistant.Assistant
	Twilio    *Twilio
	Log       *slog.Logger
	// Registry receives the pool's metrics; nil registers none.
	Registry prometheus.Registerer
	// Erasures and Buckets, both set when there is a replica bucket, are
	// the erasures deleted calls left and the stores to erase them in, by
	// bucket name: the replica bucket's and the main bucket's, since after
	// a failover an erasure recorded before it names the bucket the
	// service now writes to. Without them the pool runs no erasure.
	Erasures storage.ErasureQueue
	Buckets  map[string]storage.BlobStore
	// Events and Outbound, both set, fan events out and deliver them to
	// the business's endpoints; without them the pool delivers none.
	Events   storage.EventQueue
	Outbound *outbound.Client
	// Retention expires calls past RETENTION_DAYS and holds the purges of
	// their audio; nil runs neither. ReplicaBucket (S3_REPLICA_BUCKET)
	// makes an expired call's audio erased there too.
	Retention     storage.Retention
	ReplicaBucket string
	// RetentionSteps delete the other kinds of data kept past the window,
	// after the calls in each round.
	RetentionSteps []RetentionStep
}

// Pool runs Config.Size workers until stopped.
type Pool struct {
	cfg      Config
	calls    storage.CallReader
	work     storage.WorkQueue
	analyses storage.Analyses
	versions *assistant.Versions
	blobs    storage.BlobStore
	ai       assistant.Assistant
	twilio   *Twilio
	log      *slog.Logger
	metrics  *metrics
	// erasures and buckets are both set or both nil (see Deps).
	erasures storage.ErasureQueue
	buckets  map[string]storage.BlobStore
	// events and out are both set or both nil (see Deps).
	events   storage.EventQueue
	out      *outbound.Client
	policies map[storage.WorkKind]Policy
	// retention, replicaBucket and retentionSteps: see Deps.
	retention      storage.Retention
	replicaBucket  string
	retentionSteps []RetentionStep

	wake chan struct{}
	// deliveryWake wakes an idle delivery worker.
	deliveryWake chan struct{}
	now          func() time.Time
	// lastPurge is when this pool last purged tombstones (Unix ns; 0: never).
	lastPurge atomic.Int64
	// lastBacklog is when this pool last counted the erasures (Unix ns).
	lastBacklog atomic.Int64
	// lastRetain is when this pool last ran a retention round (Unix ns).
	lastRetain atomic.Int64
}

// New returns a pool. Start it with Run.
func New(cfg Config, d Deps) *Pool {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Erasures == nil || len(d.Buckets) == 0 {
		d.Erasures, d.Buckets = nil, nil
	}
	if d.Events == nil || d.Outbound == nil {
		d.Events, d.Outbound = nil, nil
	}
	return &Pool{
		cfg: cfg, calls: d.Calls, work: d.Work, analyses: d.Analyses, versions: d.Versions,
		blobs: d.Blobs, ai: d.Assistant, twilio: d.Twilio, log: d.Log,
		erasures: d.Erasures, buckets: d.Buckets,
		events: d.Events, out: d.Outbound, policies: cfg.policies(),
		retention: d.Retention, replicaBucket: d.ReplicaBucket, retentionSteps: d.RetentionSteps,
		metrics:      newMetrics(d.Registry),
		wake:         make(chan struct{}, 1),
		deliveryWake: make(chan struct{}, 1),
		now:          time.Now,
	}
}

// Notify wakes an idle worker: work was just enqueued by this process.
// It never blocks.
func (p *Pool) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
	p.wakeDelivery()
}

// wakeDelivery wakes an idle delivery worker. It never blocks.
func (p *Pool) wakeDelivery() {
	select {
	case p.deliveryWake <- struct{}{}:
	default:
	}
}

// Run runs the workers until ctx is cancelled, then cancels the work in
// hand, gives it back to the store (so another instance may take it at
// once) and returns when every worker has stopped.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < p.cfg.Size; i++ {
		wg.Go(func() { p.loop(ctx) })
	}
	// WORKERS=0 is an instance that runs no background work of any kind.
	if p.events != nil && p.cfg.Size > 0 {
		for i := 0; i < p.cfg.Webhooks.Workers; i++ {
			wg.Go(func() { p.deliveryLoop(ctx) })
		}
	}
	wg.Wait()
}

// Drain runs due work and erasure passes on Size workers (at least one)
// until none is due or ctx ends, and returns how many were attempted. It
// is how work is processed where no pool runs all the time: a scheduled
// invocation of the Lambda function, or `switchboard work`.
func (p *Pool) Drain(ctx context.Context) int {
	p.retain(ctx, true)
	p.purgeTombstones(ctx)
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < max(p.cfg.Size, 1); i++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				ran := p.runNext(ctx)
				if p.events != nil && ctx.Err() == nil {
					ran += p.deliverNext(ctx)
				}
				if ran == 0 {
					return
				}
				n.Add(int64(ran))
			}
		})
	}
	wg.Wait()
	p.observeBacklog(context.WithoutCancel(ctx), true)
	return int(n.Load())
}

func (p *Pool) loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.wake:
		}
		p.retain(ctx, false)
		p.purgeTombstones(ctx)
		p.observeBacklog(ctx, false)
		// Drain all due work before sleeping again.
		for ctx.Err() == nil && p.runNext(ctx) > 0 {
		}
		timer.Reset(jitter(p.cfg.PollInterval))
	}
}

// runNext runs one due work item, one due erasure pass and one due
// retention purge, so that no kind starves the others, and returns how
// many it ran.
func (p *Pool) runNext(ctx context.Context) int {
	n := 0
	if p.runOne(ctx) {
		n++
	}
	if ctx.Err() == nil && p.runErasure(ctx) {
		n++
	}
	if ctx.Err() == nil && p.runPurge(ctx) {
		n++
	}
	return n
}

// runOne claims and runs one item. It reports whether an item was found.
func (p *Pool) runOne(ctx context.Context) bool {
	w, ok, err := p.work.ClaimWork(context.WithoutCancel(ctx), p.now(), p.cfg.Lease)
	if err != nil {
		p.log.Warn("worker: claiming work failed", "err", err.Error())
		return false
	}
	if !ok {
		return false
	}
	log := p.log.With("work_id", w.ID, "kind", w.Kind, "call_sid", w.CallSID, "attempt", w.Attempts)
	if w.RecordingSID != "" {
		log = log.With("recording_sid", w.RecordingSID)
	}
	// The attempt may run until its lease ends, less a margin to record
	// the outcome; stopping the pool cancels it.
	tctx, cancel := context.WithDeadline(ctx, w.LeaseUntil.Add(-min(p.cfg.Lease/10, 10*time.Second)))
	start := p.now()
	err = p.run(tctx, w, log)
	cancel()
	// Bookkeeping must finish even while the pool stops.
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bcancel()
	switch {
	case err == nil:
		// The work may have recorded an event (a stored recording, a
		// summary): a delivery worker need not wait for its next poll.
		p.wakeDelivery()
		p.metrics.done.WithLabelValues(string(w.Kind), "ok").Inc()
		log.Info("work done", "seconds", p.now().Sub(start).Seconds())
	case ctx.Err() != nil:
		// Stopping: give the work back untouched.
		if rerr := p.work.ReleaseWork(bctx, w); rerr != nil && !errors.Is(rerr, storage.ErrNotFound) {
			log.Warn("worker: releasing work failed", "err", rerr.Error())
		}
		p.metrics.done.WithLabelValues(string(w.Kind), "released").Inc()
		log.Info("work released at shutdown")
	default:
		p.fail(bctx, w, err, log)
	}
	return true
}

// Tombstone purging: at most once per purgeEvery per pool, in batches of
// purgeBatch, at most purgeBatches of them at a time, so a backlog (after a
// bulk deletion) drains over several rounds without holding up the work.
const (
	purgeEvery   = 10 * time.Minute
	purgeBatch   = 1000
	purgeBatches = 10
)

// purgeTombstones forgets the tombstones of calls deleted more than
// TombstoneRetention ago, unless this pool did so within purgeEvery. Any
// instance may purge; the store lets several do it at once.
func (p *Pool) purgeTombstones(ctx context.Context) {
	now := p.now()
	last := p.lastPurge.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < purgeEvery {
		return
	}
	if !p.lastPurge.CompareAndSwap(last, now.UnixNano()) {
		return // another worker of this pool is purging
	}
	before := now.Add(-p.cfg.TombstoneRetention)
	total := 0
	for range purgeBatches {
		n, err := p.work.PurgeTombstones(ctx, before, purgeBatch)
		if err != nil {
			p.log.Warn("worker: purging tombstones failed", "err", err.Error())
			return
		}
		total += n
		if n < purgeBatch {
			break
		}
	}
	if total > 0 {
		p.log.Info("tombstones of deleted calls purged", "count", total, "deleted_before", before)
	}
}

// permanent marks errors that retrying cannot fix.
type permanent struct{ error }

func (e permanent) Unwrap() error { return e.error }

func isPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) || errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrUnauthorized)
}

func (p *Pool) fail(ctx context.Context, w Work, err error, log *slog.Logger) {
	retryAt, again := p.policy(w.Kind).Next(w.Attempts, time.Time{}, p.now())
	final := isPermanent(err) || !again
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	f := storage.Failure{Err: msg, Final: final, RetryAt: retryAt}
	if ferr := p.work.FailWork(ctx, w, f); ferr != nil && !errors.Is(ferr, storage.ErrNotFound) {
		log.Warn("worker: recording the failure failed", "err", ferr.Error())
	}
	if final {
		p.metrics.done.WithLabelValues(string(w.Kind), "failed").Inc()
		log.Error("work failed for good", "err", msg)
		return
	}
	p.metrics.done.WithLabelValues(string(w.Kind), "retry").Inc()
	log.Warn("work failed; will retry", "err", msg, "retry_at", f.RetryAt)
}

// Work is storage.Work; the alias keeps signatures short.
type Work = storage.Work

func (p *Pool) run(ctx context.Context, w Work, log *slog.Logger) error {
	switch w.Kind {
	case storage.WorkArchiveRecording:
		return p.archive(ctx, w, log)
	case storage.WorkSummarizeCall:
		return p.summarize(ctx, w)
	case storage.WorkDeleteTwilioMedia:
		return p.deleteMedia(ctx, w)
	case storage.WorkAnalyzeCall:
		return p.analyze(ctx, w, log)
	default:
		return permanent{errors.New("unknown work kind " + string(w.Kind))}
	}
}

// backoff is the default policy's delay after failed attempt n.
func (p *Pool) backoff(attempt int) time.Duration {
	return p.policy("").delay(attempt)
}

func jitter(d time.Duration) time.Duration {
	var b [8]byte
	_, _ = rand.Read(b[:])
	f := 0.8 + 0.4*float64(binary.LittleEndian.Uint64(b[:])>>11)/float64(1<<53)
	return time.Duration(float64(d) * f)
}

type metrics struct {
	done *prometheus.CounterVec
	// erasures counts replica erasure passes; pending and failing are the
	// store's backlog as this pool last counted it.
	erasures         *prometheus.CounterVec
	pending, failing prometheus.Gauge
	// deliveries counts event delivery attempts by outcome.
	deliveries *prometheus.CounterVec
	// expired counts calls deleted past the retention window; purges the
	// attempts at deleting their audio.
	expired prometheus.Counter
	purges  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		done: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_work_total",
			Help: "Background work attempts by kind and outcome (ok, retry, failed, released).",
		}, []string{"kind", "outcome"}),
		erasures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_replica_erasure_attempts_total",
			Help: "Attempts at a pass of a deleted call's erasure in the replica bucket, by pass and outcome (ok, retry, released).",
		}, []string{"pass", "outcome"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_replica_erasures_pending",
			Help: "Deleted calls whose audio is still to be erased in the replica bucket (either pass), as last counted.",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_replica_erasures_failing",
			Help: "Pending replica erasures whose last attempt failed, as last counted: the replica bucket is unreachable or refuses.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_event_deliveries_total",
			Help: "Attempts at delivering an event to an endpoint, by outcome (delivered, retry, failed, released).",
		}, []string{"outcome"}),
	}
	m.expired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_retention_expired_calls_total",
		Help: "Calls deleted because they were older than RETENTION_DAYS.",
	})
	m.purges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_retention_purge_attempts_total",
		Help: "Attempts at deleting a deleted or expired call's audio (blobs and media at Twilio), by outcome (ok, retry, released).",
	}, []string{"outcome"})
	if reg != nil {
		reg.MustRegister(m.done, m.erasures, m.pending, m.failing, m.deliveries, m.expired, m.purges)
	}
	return m
}
