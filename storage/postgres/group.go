package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A write is the statements of one webhook's change to one call: queue
// adds them to a batch, read takes their results from it, in the same
// order, into the caller's variables (it may be called again when the
// write is retried on its own). A read takes every one of its statements'
// results, whatever the first says, so that the next write in the batch
// reads its own. A read's pgx.ErrNoRows is an answer, not a failure: the
// statements ran.
type write struct {
	sid   string
	queue func(b *pgx.Batch)
	read  func(br pgx.BatchResults) error
}

// maxGroup bounds the writes sent together: a batch's statements and
// results stay a few kilobytes, and one slow write delays few others.
const maxGroup = 64

// errAlone tells a write of a failed group to run again on its own.
var errAlone = errors.New("postgres: retry the write on its own")

// writeGroup sends the webhooks' writes to PostgreSQL at most limit
// batches at a time. A write that finds a batch slot free goes at once, on
// its own, as it would without the group; writes that arrive while every
// slot is busy wait, and the first batch to finish hands its slot to them:
// they go together as one pipelined batch, one round trip and one
// transaction. Under load a transaction's fixed costs (its start, its
// commit, the backend's wake-ups and the driver's system calls) are then
// paid once per batch instead of once per webhook; when the load is light
// nothing waits. No goroutine runs for the group: a waiting write is woken
// either with its result or to lead the next batch. A waiting write waits
// for its batch even when its caller gives up meanwhile (the batch is
// bounded by the query timeout), as a statement already sent would.
type writeGroup struct {
	limit int
	send  func(ws []*groupWrite)

	mu      sync.Mutex
	running int
	pending []*groupWrite

	batches, writes atomic.Uint64
}

// groupWrite is a write waiting in (or led through) the group.
type groupWrite struct {
	write
	ctx   context.Context
	err   error
	batch []*groupWrite // set when woken to lead this batch
	wake  chan struct{}
}

// do runs w, alone or with others, and returns when its result is known.
func (g *writeGroup) do(w *groupWrite) {
	g.mu.Lock()
	if g.running < g.limit {
		g.running++
		g.mu.Unlock()
		g.lead([]*groupWrite{w})
		return
	}
	w.wake = make(chan struct{}, 1)
	g.pending = append(g.pending, w)
	g.mu.Unlock()
	<-w.wake
	if w.batch != nil {
		g.lead(w.batch)
	}
}

// lead sends batch, which holds the caller's own write, and passes the
// slot on: to the writes that waited meanwhile, woken through the first of
// them, or back to the group when none did. A panic while sending still
// passes the slot on and answers the batch's writes with an error before
// it goes on up the leader's stack: a lost slot would stall every write.
func (g *writeGroup) lead(batch []*groupWrite) {
	defer func() {
		if p := recover(); p != nil {
			for _, w := range batch {
				w.err = fmt.Errorf("postgres: sending a batch of writes panicked: %v", p)
			}
			g.handOff(batch)
			panic(p)
		}
	}()
	g.batches.Add(1)
	g.writes.Add(uint64(len(batch)))
	g.send(batch)
	g.handOff(batch)
}

// handOff wakes batch's waiting writes with their results and passes the
// slot on.
func (g *writeGroup) handOff(batch []*groupWrite) {
	g.mu.Lock()
	var next []*groupWrite
	if len(g.pending) > 0 {
		n := min(len(g.pending), maxGroup)
		next = slices.Clone(g.pending[:n])
		g.pending = slices.Delete(g.pending, 0, n)
	} else {
		g.running--
	}
	g.mu.Unlock()
	for _, w := range batch {
		if w.wake != nil && w.batch == nil {
			w.wake <- struct{}{}
		}
	}
	if len(next) > 0 {
		next[0].batch = next
		next[0].wake <- struct{}{}
	}
}

// sendGroup sends ws as one batch, ordered by call so that concurrent
// batches lock calls in the same order and cannot deadlock each other.
// When a statement fails the transaction is rolled back for all of them:
// every write then runs again on its own (errAlone), where the failure
// reaches only the write that caused it and is handled as it would be
// without the group. A failure of the connection or the deadline is every
// write's answer.
func (s *Store) sendGroup(ws []*groupWrite) {
	if len(ws) == 1 {
		ws[0].err = s.sendAlone(ws[0].ctx, ws[0].write)
		return
	}
	slices.SortStableFunc(ws, func(a, b *groupWrite) int { return strings.Compare(a.sid, b.sid) })
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	b := &pgx.Batch{}
	for _, w := range ws {
		w.queue(b)
	}
	br := s.pool.SendBatch(ctx, b)
	var failed error
	for _, w := range ws {
		if w.err = w.read(br); w.err != nil && !errors.Is(w.err, pgx.ErrNoRows) {
			failed = w.err
			break
		}
	}
	if err := br.Close(); failed == nil {
		failed = err
	}
	if failed == nil {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(failed, &pgErr) {
		failed = errAlone
	}
	for _, w := range ws {
		w.err = failed
	}
}

// sendAlone sends w's statements as one batch of their own.
func (s *Store) sendAlone(ctx context.Context, w write) error {
	b := &pgx.Batch{}
	w.queue(b)
	br := s.pool.SendBatch(ctx, b)
	err := w.read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// send runs a webhook's write through the group (alone when grouping is
// off) and returns what its read returned.
func (s *Store) send(ctx context.Context, w write) error {
	if s.group == nil {
		return s.sendAlone(ctx, w)
	}
	gw := &groupWrite{write: w, ctx: ctx}
	s.group.do(gw)
	if gw.err == errAlone {
		return s.sendAlone(ctx, w)
	}
	return gw.err
}

// sendRow sends a write of one statement, on call sid, whose one row scan
// reads (pgx.ErrNoRows when it returned none).
func sendRow[T any](ctx context.Context, s *Store, sid, sql string, args []any, scan func(pgx.Row) (T, error)) (T, error) {
	var got T
	err := s.send(ctx, write{
		sid:   sid,
		queue: func(b *pgx.Batch) { b.Queue(sql, args...) },
		read: func(br pgx.BatchResults) (err error) {
			got, err = scan(br.QueryRow())
			return err
		},
	})
	return got, err
}
