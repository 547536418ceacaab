package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"
)

// Events tell the business's own systems (a CRM, a ticketing tool) what
// happened to its calls: the business registers endpoints (URLs) for the
// event types it wants, and every change of those types is delivered to
// each of them, signed and retried.
//
// An event is recorded by the write that causes it, in the same statement
// or transaction, and only while an enabled endpoint subscribes to its
// type; a repeated cause (Twilio's retried webhooks) records nothing more,
// so each change is one event. The worker then fans it out: it builds the
// payload once and records one Delivery per subscribed endpoint, which it
// sends until the endpoint answers 2xx or the retry window ends.

// EventType names a kind of event, as the payload's "type" says it.
type EventType string

// The event types.
const (
	// EventCallStarted: the incoming-call webhook recorded a new call.
	EventCallStarted EventType = "call.started"
	// EventCallEnded: the call reached a terminal status.
	EventCallEnded EventType = "call.ended"
	// EventCallSummarized: the post-call summary is stored, with the
	// analysis when the call's assistant asks for one (after it, or without
	// it when the analysis failed for good).
	EventCallSummarized EventType = "call.summarized"
	// EventRecordingStored: a recording's audio is archived.
	EventRecordingStored EventType = "recording.stored"
	// EventTransferCompleted: a transfer the assistant started has its
	// outcome (answered and ended, busy, no answer, …).
	EventTransferCompleted EventType = "transfer.completed"
	// EventCallDeleted: the call and its data were deleted.
	EventCallDeleted EventType = "call.deleted"
)

// EventTypes lists every event type, in the order the API documents them.
var EventTypes = []EventType{EventCallStarted, EventCallEnded, EventCallSummarized,
	EventRecordingStored, EventTransferCompleted, EventCallDeleted}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	for _, k := range EventTypes {
		if t == k {
			return true
		}
	}
	return false
}

// Limits of endpoints.
const (
	// MaxEndpointURL bounds an endpoint's URL, in bytes.
	MaxEndpointURL = 2048
	// MaxEndpoints bounds how many endpoints a deployment has: every event
	// fans out to all of them.
	MaxEndpoints = 50
)

// Endpoint is a URL of the business that receives events.
type Endpoint struct {
	ID     string      `json:"id"`
	URL    string      `json:"url"`
	Events []EventType `json:"events"`
	// Enabled endpoints receive events. An endpoint is disabled by the
	// API, or by the worker when deliveries to it failed for the whole
	// retry window; DisabledReason then says why.
	Enabled        bool   `json:"enabled"`
	DisabledReason string `json:"disabled_reason"`
	// Secret (whsec_…) signs the deliveries (Standard Webhooks). The API
	// shows it once, when the endpoint is created.
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Subscribes reports whether e wants events of type t.
func (e Endpoint) Subscribes(t EventType) bool {
	for _, k := range e.Events {
		if k == t {
			return true
		}
	}
	return false
}

// NewEndpoint is an endpoint to create.
type NewEndpoint struct {
	URL    string
	Events []EventType
	Secret string
}

// Check validates the parts of an endpoint every store refuses: a URL of
// bounded length, one to all known event types without repeats, and a
// secret. Whether the URL is one the service may request is the outbound
// client's to say (runtime/outbound), before this.
func (n NewEndpoint) Check() error {
	var fe []FieldError
	switch {
	case n.URL == "":
		fe = append(fe, FieldError{Field: "url", Message: "is required"})
	case len(n.URL) > MaxEndpointURL:
		fe = append(fe, FieldError{Field: "url", Message: "must be at most 2048 bytes"})
	}
	if len(n.Events) == 0 {
		fe = append(fe, FieldError{Field: "events", Message: "must name at least one event type"})
	}
	seen := map[EventType]bool{}
	for _, t := range n.Events {
		if !t.Valid() {
			fe = append(fe, FieldError{Field: "events", Message: "unknown event type " + quote(truncate(string(t), 40))})
		} else if seen[t] {
			fe = append(fe, FieldError{Field: "events", Message: "names " + string(t) + " twice"})
		}
		seen[t] = true
	}
	if n.Secret == "" {
		fe = append(fe, FieldError{Field: "secret", Message: "is required"})
	}
	return InvalidFields("endpoint", fe)
}

func quote(s string) string { return `"` + s + `"` }

// NewEndpointID returns a fresh endpoint ID: "ep_" and 24 hex digits.
func NewEndpointID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand documents this)
	return "ep_" + hex.EncodeToString(b[:])
}

// ValidEndpointID reports whether id is shaped like an ID NewEndpointID makes.
func ValidEndpointID(id string) bool {
	if len(id) != 27 || id[:3] != "ep_" {
		return false
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Event is a change recorded for the endpoints, as the worker claims it to
// fan it out.
type Event struct {
	ID   int64
	Type EventType
	// CallSID is the call the event is about.
	CallSID string
	// Subject tells events of one type and call apart: the recording SID
	// of recording.stored, the turn number of transfer.completed, "" for
	// the others. (Type, CallSID, Subject) is recorded once.
	Subject   string
	CreatedAt time.Time
	// Lease identifies this claim (see Work.Lease).
	Lease      string
	LeaseUntil time.Time
}

// DeliveryState is where a delivery stands.
type DeliveryState string

// The delivery states.
const (
	// DeliveryPending: not yet answered with 2xx; it will be (re)tried.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: the retry window ended without a 2xx.
	DeliveryFailed DeliveryState = "failed"
)

// MaxDeliveryAttempts bounds the attempts kept in a delivery's history
// (the oldest are dropped past it); its Attempts still counts them all.
const MaxDeliveryAttempts = 30

// DeliveryAttempt is one try at sending a delivery.
type DeliveryAttempt struct {
	At time.Time `json:"at"`
	// Status is the endpoint's HTTP status; 0 when it gave none (a network
	// error, a timeout, a refused target).
	Status int `json:"status"`
	// Error says why the attempt failed; "" when it succeeded.
	Error string `json:"error"`
	// DurationMS is from sending the request to the end of the answer.
	DurationMS float64 `json:"duration_ms"`
}

// Delivery is one event sent to one endpoint: the delivery log's entry.
type Delivery struct {
	ID         int64     `json:"id"`
	EndpointID string    `json:"endpoint_id"`
	EventType  EventType `json:"event_type"`
	CallSID    string    `json:"call_sid"`
	// MessageID is the webhook-id header, the same on every attempt (and
	// for every endpoint of one event) so receivers can drop repeats.
	MessageID string        `json:"message_id"`
	State     DeliveryState `json:"state"`
	Attempts  int           `json:"attempts"`
	// LastStatus and LastError are the last attempt's.
	LastStatus int    `json:"last_status"`
	LastError  string `json:"last_error"`
	// History is the attempts, oldest first (at most MaxDeliveryAttempts).
	History     []DeliveryAttempt `json:"history"`
	CreatedAt   time.Time         `json:"created_at"`
	NextAttempt *time.Time        `json:"next_attempt_at"`
	DeliveredAt *time.Time        `json:"delivered_at"`

	// What the worker needs to send it, filled in by ClaimDelivery.
	URL        string    `json:"-"`
	Secret     string    `json:"-"`
	Payload    []byte    `json:"-"`
	Lease      string    `json:"-"`
	LeaseUntil time.Time `json:"-"`
}

// DeliveryOutcome is what became of a claimed delivery's attempt.
type DeliveryOutcome struct {
	Attempt DeliveryAttempt
	// Delivered: the endpoint answered 2xx.
	Delivered bool
	// RetryAt is when the next attempt may be made, unless Delivered or
	// GiveUp.
	RetryAt time.Time
	// GiveUp ends the delivery as failed; with DisableReason set, the
	// endpoint is disabled with that reason in the same step.
	GiveUp        bool
	DisableReason string
}

// DeliveryPage is one page of an endpoint's delivery log.
type DeliveryPage struct {
	Deliveries []Delivery `json:"deliveries"`
	// NextCursor fetches the next (older) page; "" on the last one.
	NextCursor string `json:"next_cursor"`
}

// Endpoints is the event endpoints' registry and their delivery log, as
// the API manages them.
type Endpoints interface {
	// CreateEndpoint stores an enabled endpoint with a new ID. ErrInvalid
	// for what NewEndpoint.Check refuses; ErrConflict when MaxEndpoints
	// exist already.
	CreateEndpoint(ctx context.Context, n NewEndpoint) (Endpoint, error)

	// ListEndpoints returns every endpoint, oldest first.
	ListEndpoints(ctx context.Context) ([]Endpoint, error)

	// GetEndpoint returns one endpoint. ErrNotFound when absent.
	GetEndpoint(ctx context.Context, id string) (Endpoint, error)

	// SetEndpointEnabled enables or disables an endpoint; enabling clears
	// the reason it was disabled, and its pending deliveries are tried
	// again. ErrNotFound when absent.
	SetEndpointEnabled(ctx context.Context, id string, enabled bool) (Endpoint, error)

	// DeleteEndpoint removes an endpoint and its deliveries. ErrNotFound
	// when absent.
	DeleteEndpoint(ctx context.Context, id string) error

	// ListDeliveries returns an endpoint's deliveries newest first, at most
	// limit (1 to 200) from cursor on. ErrNotFound when the endpoint is
	// absent; ErrInvalid for a malformed cursor or limit.
	ListDeliveries(ctx context.Context, endpointID string, limit int, cursor string) (DeliveryPage, error)

	// PurgeDeliveries deletes at most limit deliveries created before the
	// given time, oldest first, whatever their state, and the events
	// before it that no delivery needs any more; it returns how many
	// deliveries it removed. ErrInvalid for a limit below 1.
	PurgeDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
}

// EventQueue is the worker's side of events: fanning them out and sending
// the deliveries.
type EventQueue interface {
	// ClaimEvent leases the oldest event not yet fanned out until
	// now+lease. ok is false when there is none.
	ClaimEvent(ctx context.Context, now time.Time, lease time.Duration) (e Event, ok bool, err error)

	// FanOutEvent records, in one step, the event's payload and message ID
	// and one pending delivery (due at once) per enabled endpoint that
	// subscribes to its type, and marks it fanned out; it returns how many
	// deliveries it made. A nil payload drops the event (its call is gone)
	// with no deliveries. ErrConflict when e's lease is no longer held.
	FanOutEvent(ctx context.Context, e Event, messageID string, payload []byte) (int, error)

	// ClaimDelivery leases the next due pending delivery of an enabled
	// endpoint that holds fewer than perEndpoint leased deliveries, until
	// now+lease, taking endpoints in turn so a busy or slow one does not
	// hold up the others. ok is false when none is due. ErrInvalid for a
	// lease or perEndpoint below 1.
	ClaimDelivery(ctx context.Context, now time.Time, lease time.Duration, perEndpoint int) (d Delivery, ok bool, err error)

	// FinishAttempt records an attempt at d and its outcome (see
	// DeliveryOutcome) and releases the lease. ErrConflict when d's lease
	// is no longer held (the endpoint was deleted included).
	FinishAttempt(ctx context.Context, d Delivery, o DeliveryOutcome) error

	// ReleaseDelivery gives d back untried, due at once. ErrConflict when
	// d's lease is no longer held.
	ReleaseDelivery(ctx context.Context, d Delivery) error
}

// CheckDeliveryPage validates a delivery log page's limit and cursor and
// returns the ID the page starts below (0: the newest).
func CheckDeliveryPage(limit int, cursor string) (int64, error) {
	if limit < 1 || limit > 200 {
		return 0, Errorf(ErrInvalid, "limit must be from 1 to 200")
	}
	if cursor == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || id < 1 {
		return 0, Errorf(ErrInvalid, "malformed cursor")
	}
	return id, nil
}
