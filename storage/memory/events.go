package memory

import (
	"context"
	"slices"
	"strconv"
	"time"

	"switchboard/storage"
)

// eventItem is a recorded event; fanned is set once its deliveries exist.
type eventItem struct {
	e       storage.Event // Lease is "" while nobody holds it
	fanned  bool
	msgID   string
	payload []byte
}

// deliveryItem is a stored delivery; due is when it may be tried again.
type deliveryItem struct {
	d       storage.Delivery
	eventID int64
	due     time.Time
}

func notFoundEndpoint() error { return storage.Errorf(storage.ErrNotFound, "endpoint not found") }

func lostDelivery() error {
	return storage.Errorf(storage.ErrConflict, "the lease is no longer held")
}

func cloneEndpoint(e *storage.Endpoint) storage.Endpoint {
	c := *e
	c.Events = slices.Clone(e.Events)
	return c
}

func cloneDelivery(d storage.Delivery) storage.Delivery {
	d.History = slices.Clone(d.History)
	d.NextAttempt, d.DeliveredAt = normPtr(d.NextAttempt), normPtr(d.DeliveredAt)
	d.Payload = slices.Clone(d.Payload)
	return d
}

// recordEvent records an event of type t about a call unless no enabled
// endpoint wants it or it was recorded already. The caller holds s.mu, so
// the event appears in the same step as the change that causes it.
func (s *Store) recordEvent(t storage.EventType, callSID, subject string, at time.Time) {
	wanted := false
	for _, e := range s.endpoints {
		if e.Enabled && e.Subscribes(t) {
			wanted = true
			break
		}
	}
	if !wanted {
		return
	}
	for _, it := range s.events {
		if it.e.Type == t && it.e.CallSID == callSID && it.e.Subject == subject {
			return
		}
	}
	s.nextEventID++
	s.events = append(s.events, &eventItem{e: storage.Event{ID: s.nextEventID, Type: t, CallSID: callSID, Subject: subject, CreatedAt: orNow(at)}})
}

// CreateEndpoint stores an enabled endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, n storage.NewEndpoint) (storage.Endpoint, error) {
	if err := n.Check(); err != nil {
		return storage.Endpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.endpoints) >= storage.MaxEndpoints {
		return storage.Endpoint{}, storage.Errorf(storage.ErrConflict, "there are %d endpoints already, the most there may be", storage.MaxEndpoints)
	}
	now := norm(time.Now())
	e := &storage.Endpoint{ID: storage.NewEndpointID(), URL: n.URL, Events: slices.Clone(n.Events), Enabled: true,
		Secret: n.Secret, CreatedAt: now, UpdatedAt: now}
	s.endpoints[e.ID] = e
	s.endpointOrder = append(s.endpointOrder, e.ID)
	return cloneEndpoint(e), nil
}

// ListEndpoints returns every endpoint, oldest first.
func (s *Store) ListEndpoints(ctx context.Context) ([]storage.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]storage.Endpoint, 0, len(s.endpointOrder))
	for _, id := range s.endpointOrder {
		list = append(list, cloneEndpoint(s.endpoints[id]))
	}
	return list, nil
}

// GetEndpoint returns one endpoint.
func (s *Store) GetEndpoint(ctx context.Context, id string) (storage.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return storage.Endpoint{}, notFoundEndpoint()
	}
	return cloneEndpoint(e), nil
}

// SetEndpointEnabled enables or disables an endpoint.
func (s *Store) SetEndpointEnabled(ctx context.Context, id string, enabled bool) (storage.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return storage.Endpoint{}, notFoundEndpoint()
	}
	if e.Enabled != enabled {
		e.Enabled, e.DisabledReason, e.UpdatedAt = enabled, "", norm(time.Now())
	}
	return cloneEndpoint(e), nil
}

// DeleteEndpoint removes an endpoint and its deliveries.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[id]; !ok {
		return notFoundEndpoint()
	}
	delete(s.endpoints, id)
	delete(s.endpointTurn, id)
	s.endpointOrder = slices.DeleteFunc(s.endpointOrder, func(x string) bool { return x == id })
	s.deliveries = slices.DeleteFunc(s.deliveries, func(it *deliveryItem) bool { return it.d.EndpointID == id })
	return nil
}

// ListDeliveries pages an endpoint's deliveries newest first; the cursor
// is the ID the next page starts below.
func (s *Store) ListDeliveries(ctx context.Context, endpointID string, limit int, cursor string) (storage.DeliveryPage, error) {
	below, err := storage.CheckDeliveryPage(limit, cursor)
	if err != nil {
		return storage.DeliveryPage{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[endpointID]; !ok {
		return storage.DeliveryPage{}, notFoundEndpoint()
	}
	page := storage.DeliveryPage{Deliveries: []storage.Delivery{}}
	for i := len(s.deliveries) - 1; i >= 0; i-- {
		d := s.deliveries[i].d
		if d.EndpointID != endpointID || below > 0 && d.ID >= below {
			continue
		}
		if len(page.Deliveries) == limit {
			page.NextCursor = strconv.FormatInt(page.Deliveries[limit-1].ID, 10)
			break
		}
		d = cloneDelivery(d)
		d.URL, d.Secret, d.Payload, d.Lease, d.LeaseUntil = "", "", nil, "", time.Time{}
		page.Deliveries = append(page.Deliveries, d)
	}
	return page, nil
}

// PurgeDeliveries deletes up to limit deliveries created before the given
// time, oldest first, then the fanned-out events before it that have no
// delivery left.
func (s *Store) PurgeDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "purge limit must be at least 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	s.deliveries = slices.DeleteFunc(s.deliveries, func(it *deliveryItem) bool {
		if n < limit && it.d.CreatedAt.Before(before) {
			n++
			return true
		}
		return false
	})
	s.events = slices.DeleteFunc(s.events, func(it *eventItem) bool {
		return it.fanned && it.e.CreatedAt.Before(before) && !s.eventNeeded(it.e.ID)
	})
	return n, nil
}

func (s *Store) eventNeeded(id int64) bool {
	return slices.ContainsFunc(s.deliveries, func(it *deliveryItem) bool { return it.eventID == id })
}

// ClaimEvent leases the oldest event not yet fanned out.
func (s *Store) ClaimEvent(ctx context.Context, now time.Time, lease time.Duration) (storage.Event, bool, error) {
	if lease <= 0 {
		return storage.Event{}, false, storage.Errorf(storage.ErrInvalid, "lease must be positive")
	}
	now = norm(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.events {
		if it.fanned || it.e.Lease != "" && it.e.LeaseUntil.After(now) {
			continue
		}
		it.e.Lease, it.e.LeaseUntil = newLease(), norm(now.Add(lease))
		return it.e, true, nil
	}
	return storage.Event{}, false, nil
}

// FanOutEvent makes the event's deliveries and marks it fanned out.
func (s *Store) FanOutEvent(ctx context.Context, e storage.Event, messageID string, payload []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.events, func(it *eventItem) bool { return it.e.ID == e.ID })
	if i < 0 || e.Lease == "" || s.events[i].e.Lease != e.Lease || s.events[i].fanned {
		return 0, lostDelivery()
	}
	it := s.events[i]
	it.fanned, it.e.Lease, it.e.LeaseUntil = true, "", time.Time{}
	if payload == nil {
		return 0, nil
	}
	it.msgID, it.payload = messageID, slices.Clone(payload)
	n := 0
	now := norm(time.Now())
	for _, id := range s.endpointOrder {
		ep := s.endpoints[id]
		if !ep.Enabled || !ep.Subscribes(e.Type) {
			continue
		}
		s.nextDeliveryID++
		s.deliveries = append(s.deliveries, &deliveryItem{eventID: e.ID, d: storage.Delivery{
			ID: s.nextDeliveryID, EndpointID: id, EventType: e.Type, CallSID: e.CallSID, MessageID: messageID,
			State: storage.DeliveryPending, CreatedAt: now, NextAttempt: &now,
		}})
		n++
	}
	return n, nil
}

// ClaimDelivery leases the next due delivery of the endpoint whose turn it
// is (the one that was served longest ago) among those under their bound.
func (s *Store) ClaimDelivery(ctx context.Context, now time.Time, lease time.Duration, perEndpoint int) (storage.Delivery, bool, error) {
	if lease <= 0 || perEndpoint < 1 {
		return storage.Delivery{}, false, storage.Errorf(storage.ErrInvalid, "lease and the bound per endpoint must be positive")
	}
	now = norm(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	held := map[string]int{}
	first := map[string]*deliveryItem{}
	for _, it := range s.deliveries {
		d := &it.d
		if d.State != storage.DeliveryPending {
			continue
		}
		if d.Lease != "" && d.LeaseUntil.After(now) {
			held[d.EndpointID]++
			continue
		}
		if it.due.After(now) {
			continue
		}
		if f, ok := first[d.EndpointID]; !ok || it.due.Before(f.due) {
			first[d.EndpointID] = it
		}
	}
	var pick *deliveryItem
	var pickTurn time.Time
	for id, it := range first {
		ep := s.endpoints[id]
		if ep == nil || !ep.Enabled || held[id] >= perEndpoint {
			continue
		}
		turn := s.endpointTurn[id]
		if pick == nil || turn.Before(pickTurn) || turn.Equal(pickTurn) && it.d.ID < pick.d.ID {
			pick, pickTurn = it, turn
		}
	}
	if pick == nil {
		return storage.Delivery{}, false, nil
	}
	s.endpointTurn[pick.d.EndpointID] = time.Now()
	pick.d.Lease, pick.d.LeaseUntil = newLease(), norm(now.Add(lease))
	d := cloneDelivery(pick.d)
	ep := s.endpoints[d.EndpointID]
	d.URL, d.Secret = ep.URL, ep.Secret
	if ev := s.eventByID(pick.eventID); ev != nil {
		d.Payload = slices.Clone(ev.payload)
	}
	return d, true, nil
}

func (s *Store) eventByID(id int64) *eventItem {
	for _, it := range s.events {
		if it.e.ID == id {
			return it
		}
	}
	return nil
}

// heldDelivery returns d's item while d's lease is the current one.
func (s *Store) heldDelivery(d storage.Delivery) (*deliveryItem, error) {
	i := slices.IndexFunc(s.deliveries, func(it *deliveryItem) bool { return it.d.ID == d.ID })
	if i < 0 || d.Lease == "" || s.deliveries[i].d.Lease != d.Lease {
		return nil, lostDelivery()
	}
	return s.deliveries[i], nil
}

// FinishAttempt records an attempt and its outcome.
func (s *Store) FinishAttempt(ctx context.Context, d storage.Delivery, o storage.DeliveryOutcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, err := s.heldDelivery(d)
	if err != nil {
		return err
	}
	a := o.Attempt
	a.At = orNow(a.At)
	x := &it.d
	x.Attempts++
	x.LastStatus, x.LastError = a.Status, a.Error
	x.History = append(x.History, a)
	if len(x.History) > storage.MaxDeliveryAttempts {
		x.History = slices.Delete(x.History, 0, len(x.History)-storage.MaxDeliveryAttempts)
	}
	x.Lease, x.LeaseUntil = "", time.Time{}
	switch {
	case o.Delivered:
		x.State, x.DeliveredAt, x.NextAttempt = storage.DeliveryDelivered, &a.At, nil
	case o.GiveUp:
		x.State, x.NextAttempt = storage.DeliveryFailed, nil
		if ep := s.endpoints[x.EndpointID]; ep != nil && o.DisableReason != "" && ep.Enabled {
			ep.Enabled, ep.DisabledReason, ep.UpdatedAt = false, o.DisableReason, norm(time.Now())
		}
	default:
		next := norm(o.RetryAt)
		it.due, x.NextAttempt = next, &next
	}
	return nil
}

// ReleaseDelivery hands the delivery back untried, due at once.
func (s *Store) ReleaseDelivery(ctx context.Context, d storage.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, err := s.heldDelivery(d)
	if err != nil {
		return err
	}
	it.d.Lease, it.d.LeaseUntil, it.due = "", time.Time{}, time.Time{}
	return nil
}
