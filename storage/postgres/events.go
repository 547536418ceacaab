package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
)

var (
	_ storage.Endpoints  = (*Store)(nil)
	_ storage.EventQueue = (*Store)(nil)
)

var errEndpointNotFound = storage.Errorf(storage.ErrNotFound, "endpoint not found")

// eventInsert is a statement (or CTE body) that records an event of type
// t: rows is "call_sid_expr, subject_expr FROM … WHERE cond", and the
// event is recorded only where an enabled endpoint subscribes to t, once
// per (type, call, subject). It adds no round trip to the write it is
// part of, and with no endpoint it writes nothing.
func eventInsert(t storage.EventType, rows string) string {
	typ := "'" + string(t) + "'"
	return `INSERT INTO events (type, call_sid, subject) SELECT ` + typ + `, ` + rows + `
		AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND ` + typ + ` = ANY (events))
		ON CONFLICT (type, call_sid, subject) DO NOTHING`
}

// recordEvent records an event inside the transaction tx of its cause.
func recordEvent(ctx context.Context, tx pgx.Tx, t storage.EventType, callSID, subject string) error {
	_, err := tx.Exec(ctx, eventInsert(t, `$1::text, $2::text WHERE true`), callSID, subject)
	return err
}

const endpointCols = `id, url, events, enabled, disabled_reason, secret, created_at, updated_at`

func scanEndpoint(row pgx.Row) (storage.Endpoint, error) {
	var e storage.Endpoint
	var events []string
	err := row.Scan(&e.ID, &e.URL, &events, &e.Enabled, &e.DisabledReason, &e.Secret, &e.CreatedAt, &e.UpdatedAt)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	for _, t := range events {
		e.Events = append(e.Events, storage.EventType(t))
	}
	return e, err
}

// CreateEndpoint inserts the endpoint unless MaxEndpoints exist, in one
// statement.
func (s *Store) CreateEndpoint(ctx context.Context, n storage.NewEndpoint) (storage.Endpoint, error) {
	if err := n.Check(); err != nil {
		return storage.Endpoint{}, err
	}
	events := make([]string, len(n.Events))
	for i, t := range n.Events {
		events[i] = string(t)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := norm(time.Now())
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `
		INSERT INTO webhook_endpoints (id, url, events, secret, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $5 WHERE (SELECT count(*) FROM webhook_endpoints) < $6
		RETURNING `+endpointCols, storage.NewEndpointID(), n.URL, events, n.Secret, now, storage.MaxEndpoints))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Endpoint{}, storage.Errorf(storage.ErrConflict, "there are %d endpoints already, the most there may be", storage.MaxEndpoints)
	}
	if err != nil {
		return storage.Endpoint{}, translate(err, "create endpoint")
	}
	return e, nil
}

// ListEndpoints returns every endpoint, oldest first.
func (s *Store) ListEndpoints(ctx context.Context) ([]storage.Endpoint, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints ORDER BY seq`)
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, translate(err, "list endpoints")
	}
	return list, nil
}

// GetEndpoint returns one endpoint.
func (s *Store) GetEndpoint(ctx context.Context, id string) (storage.Endpoint, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Endpoint{}, errEndpointNotFound
	}
	if err != nil {
		return storage.Endpoint{}, translate(err, "get endpoint")
	}
	return e, nil
}

// SetEndpointEnabled changes the endpoint only when enabled differs.
func (s *Store) SetEndpointEnabled(ctx context.Context, id string, enabled bool) (storage.Endpoint, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `
		UPDATE webhook_endpoints SET
			disabled_reason = CASE WHEN enabled = $2 THEN disabled_reason ELSE '' END,
			updated_at = CASE WHEN enabled = $2 THEN updated_at ELSE $3 END,
			enabled = $2
		WHERE id = $1 RETURNING `+endpointCols, id, enabled, norm(time.Now())))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Endpoint{}, errEndpointNotFound
	}
	if err != nil {
		return storage.Endpoint{}, translate(err, "set endpoint enabled")
	}
	return e, nil
}

// DeleteEndpoint deletes the endpoint; its deliveries go by cascade.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return translate(err, "delete endpoint")
	}
	if tag.RowsAffected() == 0 {
		return errEndpointNotFound
	}
	return nil
}

const deliveryCols = `d.id, d.endpoint_id, ev.type, ev.call_sid, ev.message_id, d.state, d.attempts, d.last_status,
	d.last_error, d.history, d.created_at, d.run_at, d.delivered_at`

func scanDelivery(row pgx.Row, extra ...any) (storage.Delivery, error) {
	var d storage.Delivery
	var history []byte
	var runAt time.Time
	err := row.Scan(append([]any{&d.ID, &d.EndpointID, &d.EventType, &d.CallSID, &d.MessageID, &d.State, &d.Attempts,
		&d.LastStatus, &d.LastError, &history, &d.CreatedAt, &runAt, &d.DeliveredAt}, extra...)...)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(history, &d.History); err != nil {
		return d, err
	}
	for i := range d.History {
		d.History[i].At = d.History[i].At.UTC()
	}
	d.CreatedAt, d.DeliveredAt = d.CreatedAt.UTC(), utcPtr(d.DeliveredAt)
	if d.State == storage.DeliveryPending {
		runAt = runAt.UTC()
		d.NextAttempt = &runAt
	}
	return d, nil
}

// ListDeliveries pages the log on deliveries_endpoint_idx, newest first.
func (s *Store) ListDeliveries(ctx context.Context, endpointID string, limit int, cursor string) (storage.DeliveryPage, error) {
	below, err := storage.CheckDeliveryPage(limit, cursor)
	if err != nil {
		return storage.DeliveryPage{}, err
	}
	if below == 0 {
		below = 1<<63 - 1
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var exists bool
	var list []storage.Delivery
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1)`, endpointID)
		b.Queue(`SELECT `+deliveryCols+` FROM deliveries d JOIN events ev ON ev.id = d.event_id
			WHERE d.endpoint_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3`, endpointID, below, limit+1)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if err := br.QueryRow().Scan(&exists); err != nil {
			return err
		}
		rows, _ := br.Query()
		var err error
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Delivery, error) { return scanDelivery(r) })
		return err
	})
	if err != nil {
		return storage.DeliveryPage{}, translate(err, "list deliveries")
	}
	if !exists {
		return storage.DeliveryPage{}, errEndpointNotFound
	}
	page := storage.DeliveryPage{Deliveries: list}
	if page.Deliveries == nil {
		page.Deliveries = []storage.Delivery{}
	}
	if len(list) > limit {
		page.Deliveries = list[:limit:limit]
		page.NextCursor = strconv.FormatInt(list[limit-1].ID, 10)
	}
	return page, nil
}

// PurgeDeliveries deletes one bounded batch of old deliveries, then the old
// events nothing refers to, each with SKIP LOCKED so several instances may
// purge at once and a delivery being sent is left for the next round.
func (s *Store) PurgeDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "purge limit must be at least 1")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH gone AS (
			DELETE FROM deliveries WHERE id IN (
				SELECT id FROM deliveries WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
			) RETURNING event_id
		), events_gone AS (
			DELETE FROM events e WHERE e.id IN (
				SELECT id FROM events x WHERE x.created_at < $1 AND x.fanned
					AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = x.id)
					AND NOT EXISTS (SELECT 1 FROM gone WHERE gone.event_id = x.id)
				ORDER BY x.created_at LIMIT $2 FOR UPDATE SKIP LOCKED
			)
		)
		SELECT count(*) FROM gone`, norm(before), limit).Scan(&n)
	if err != nil {
		return 0, translate(err, "purge deliveries")
	}
	return n, nil
}

// ClaimEvent leases the oldest event not fanned out, on events_unfanned_idx.
func (s *Store) ClaimEvent(ctx context.Context, now time.Time, lease time.Duration) (storage.Event, bool, error) {
	if lease <= 0 {
		return storage.Event{}, false, storage.Errorf(storage.ErrInvalid, "lease must be positive")
	}
	now = norm(now)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var e storage.Event
	var until time.Time
	err := s.pool.QueryRow(ctx, `
		UPDATE events SET lease = $2, lease_until = $3
		WHERE id = (
			SELECT id FROM events WHERE NOT fanned AND (lease IS NULL OR lease_until <= $1)
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
		)
		RETURNING id, type, call_sid, subject, created_at, lease, lease_until`,
		now, newLease(), norm(now.Add(lease))).Scan(&e.ID, &e.Type, &e.CallSID, &e.Subject, &e.CreatedAt, &e.Lease, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Event{}, false, nil
	}
	if err != nil {
		return storage.Event{}, false, translate(err, "claim event")
	}
	e.CreatedAt, e.LeaseUntil = e.CreatedAt.UTC(), until.UTC()
	return e, true, nil
}

// FanOutEvent marks the event fanned out and inserts its deliveries in one
// statement.
func (s *Store) FanOutEvent(ctx context.Context, e storage.Event, messageID string, payload []byte) (int, error) {
	if e.Lease == "" {
		return 0, errLostLease
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var held bool
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH ev AS (
			UPDATE events SET fanned = true, lease = NULL, lease_until = NULL, message_id = $3, payload = $4
			WHERE id = $1 AND lease = $2 AND NOT fanned
			RETURNING id, type
		), made AS (
			INSERT INTO deliveries (endpoint_id, event_id, created_at, run_at)
			SELECT ep.id, ev.id, $5, $5 FROM ev JOIN webhook_endpoints ep ON ep.enabled AND ev.type = ANY (ep.events)
			WHERE $4::bytea IS NOT NULL
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM ev), (SELECT count(*) FROM made)`,
		e.ID, e.Lease, messageID, payload, norm(time.Now())).Scan(&held, &n)
	if err != nil {
		return 0, translate(err, "fan out event")
	}
	if !held {
		return 0, errLostLease
	}
	return n, nil
}

// claimableEndpoint selects the endpoints with a due delivery and room
// under the bound ($1 now, $2 the bound), whose turn it is first.
const claimableEndpoint = `
	SELECT e.id FROM webhook_endpoints e
	WHERE e.enabled
		AND EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.run_at <= $1
			AND (d.lease IS NULL OR d.lease_until <= $1))
		AND (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending'
			AND d.lease IS NOT NULL AND d.lease_until > $1) < $2
	ORDER BY e.claimed_at NULLS FIRST, e.seq
	LIMIT 1`

// claimTries bounds how often ClaimDelivery tries again when every
// claimable endpoint was locked by other claimers (each holds it for one
// short transaction).
const claimTries = 5

// ClaimDelivery claims in a transaction of two statements: the first locks
// the endpoint whose turn it is among those with a due delivery and room
// under the bound (SKIP LOCKED: claimers of other endpoints pass it by);
// the second, with the lock held and a fresh snapshot that sees every
// claim committed before it, counts that endpoint's leases again and
// claims its next delivery. Claims of one endpoint are thus serialized,
// and the bound holds across instances. When every claimable endpoint was
// locked, it waits a moment and tries again, so a claimer does not go idle
// while deliveries are due.
func (s *Store) ClaimDelivery(ctx context.Context, now time.Time, lease time.Duration, perEndpoint int) (storage.Delivery, bool, error) {
	if lease <= 0 || perEndpoint < 1 {
		return storage.Delivery{}, false, storage.Errorf(storage.ErrInvalid, "lease and the bound per endpoint must be positive")
	}
	now = norm(now)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	for try := 1; ; try++ {
		d, found, locked, err := s.claimDelivery(ctx, now, lease, perEndpoint)
		if err != nil || found || !locked || try == claimTries {
			return d, found, err
		}
		select {
		case <-ctx.Done():
			return storage.Delivery{}, false, translate(ctx.Err(), "claim delivery")
		case <-time.After(time.Duration(try) * 2 * time.Millisecond):
		}
	}
}

// claimDelivery is one try of ClaimDelivery; locked reports that it found
// nothing only because other claimers held the claimable endpoints.
//
// An idle claimer costs one round trip: the transaction starts only once a
// plain read found a claimable endpoint.
func (s *Store) claimDelivery(ctx context.Context, now time.Time, lease time.Duration, perEndpoint int) (d storage.Delivery, found, locked bool, err error) {
	var due bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (`+claimableEndpoint+`)`, now, perEndpoint).Scan(&due); err != nil || !due {
		return d, false, false, translate(err, "claim delivery")
	}
	err = s.inTx(ctx, "claim delivery", func(tx pgx.Tx) error {
		var ep string
		err := tx.QueryRow(ctx, claimableEndpoint+` FOR UPDATE SKIP LOCKED`, now, perEndpoint).Scan(&ep)
		if errors.Is(err, pgx.ErrNoRows) {
			// Claimable a moment ago: others hold the endpoints.
			locked = true
			return nil
		}
		if err != nil {
			return err
		}
		var until time.Time
		var url, secret, token string
		var payload []byte
		d, err = scanDelivery(tx.QueryRow(ctx, `
			WITH next AS (
				SELECT id FROM deliveries
				WHERE endpoint_id = $1 AND state = 'pending' AND run_at <= $2 AND (lease IS NULL OR lease_until <= $2)
					AND (SELECT count(*) FROM deliveries x WHERE x.endpoint_id = $1 AND x.state = 'pending'
						AND x.lease IS NOT NULL AND x.lease_until > $2) < $3
				ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
			), d AS (
				UPDATE deliveries d SET lease = $4, lease_until = $5 FROM next WHERE d.id = next.id
				RETURNING d.*
			), turn AS (
				UPDATE webhook_endpoints SET claimed_at = $6 WHERE id = $1 AND EXISTS (SELECT 1 FROM d)
			)
			SELECT `+deliveryCols+`, ep.url, ep.secret, ev.payload, d.lease, d.lease_until
			FROM d JOIN events ev ON ev.id = d.event_id JOIN webhook_endpoints ep ON ep.id = d.endpoint_id`,
			ep, now, perEndpoint, newLease(), norm(now.Add(lease)), norm(time.Now())), &url, &secret, &payload, &token, &until)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		d.URL, d.Secret, d.Payload, d.Lease, d.LeaseUntil = url, secret, payload, token, until.UTC()
		found = true
		return nil
	})
	return d, found, locked, err
}

// FinishAttempt records the attempt and its outcome, and disables the
// endpoint when asked, in one statement.
func (s *Store) FinishAttempt(ctx context.Context, d storage.Delivery, o storage.DeliveryOutcome) error {
	if d.Lease == "" {
		return errLostLease
	}
	a := o.Attempt
	a.At = orNow(a.At)
	doc, err := json.Marshal(a)
	if err != nil {
		return storage.Wrap(storage.ErrInvalid, err, "the attempt does not encode")
	}
	state := storage.DeliveryPending
	var delivered *time.Time
	runAt := norm(o.RetryAt)
	switch {
	case o.Delivered:
		state, delivered = storage.DeliveryDelivered, &a.At
	case o.GiveUp:
		state = storage.DeliveryFailed
	}
	if runAt.IsZero() {
		runAt = a.At
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err = s.pool.QueryRow(ctx, `
		WITH d AS (
			UPDATE deliveries SET attempts = attempts + 1, last_status = $3, last_error = $4, state = $5,
				delivered_at = $6, run_at = $7, lease = NULL, lease_until = NULL,
				history = CASE WHEN jsonb_array_length(history) >= $10
					THEN jsonb_path_query_array(history, '$[1 to last]') ELSE history END || jsonb_build_array($8::jsonb)
			WHERE id = $1 AND lease = $2
			RETURNING endpoint_id
		), off AS (
			UPDATE webhook_endpoints e SET enabled = false, disabled_reason = $9, updated_at = $11
			FROM d WHERE e.id = d.endpoint_id AND $9 <> '' AND e.enabled
		)
		SELECT count(*) FROM d`,
		d.ID, d.Lease, a.Status, a.Error, state, delivered, runAt, string(doc), o.DisableReason,
		storage.MaxDeliveryAttempts, norm(time.Now())).Scan(&n)
	if err != nil {
		return translate(err, "finish delivery attempt")
	}
	if n == 0 {
		return errLostLease
	}
	return nil
}

// ReleaseDelivery hands the delivery back untried, due at once.
func (s *Store) ReleaseDelivery(ctx context.Context, d storage.Delivery) error {
	if d.Lease == "" {
		return errLostLease
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET lease = NULL, lease_until = NULL
		WHERE id = $1 AND lease = $2`, d.ID, d.Lease)
	if err != nil {
		return translate(err, "release delivery")
	}
	if tag.RowsAffected() == 0 {
		return errLostLease
	}
	return nil
}
