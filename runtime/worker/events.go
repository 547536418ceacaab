package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"switchboard/runtime/outbound"
	"switchboard/storage"
)

// Events go out in two steps, both on the delivery workers: an event the
// writes recorded is fanned out (its payload built once, one delivery per
// subscribed endpoint), then each delivery is sent, signed, and retried
// under the delivery policy until the endpoint answers 2xx. The payload
// and its webhook-id are fixed at the fan-out, so every retry sends the
// very same message.

// PayloadVersion is the version of the event payloads' shape: fields are
// only ever added within a version.
const PayloadVersion = 1

// eventLease bounds a fan-out: a few reads and one write.
const eventLease = time.Minute

// deliveryLeaseMargin is how long a delivery's lease outlasts its
// attempt's timeout.
const deliveryLeaseMargin = 5 * time.Second

// deliveryLoop runs deliveries until ctx is cancelled.
func (p *Pool) deliveryLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.deliveryWake:
		}
		for ctx.Err() == nil && p.deliverNext(ctx) > 0 {
		}
		timer.Reset(jitter(p.cfg.PollInterval))
	}
}

// deliverNext fans out one event and sends one delivery, so neither
// starves the other, and returns how many it did.
func (p *Pool) deliverNext(ctx context.Context) int {
	n := 0
	if p.fanOutOne(ctx) {
		n++
	}
	if ctx.Err() == nil && p.deliverOne(ctx) {
		n++
	}
	return n
}

// fanOutOne claims an event and makes its deliveries. It reports whether
// an event was found.
func (p *Pool) fanOutOne(ctx context.Context) bool {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	e, ok, err := p.events.ClaimEvent(bctx, p.now(), eventLease)
	if err != nil {
		p.log.Warn("worker: claiming an event failed", "err", err.Error())
		return false
	}
	if !ok {
		return false
	}
	log := p.log.With("event_id", e.ID, "event", e.Type, "call_sid", e.CallSID)
	id := outbound.NewMessageID()
	payload, err := p.eventPayload(bctx, e, id)
	if err != nil {
		// The lease expires and another attempt builds it.
		log.Warn("worker: building an event failed", "err", err.Error())
		return true
	}
	n, err := p.events.FanOutEvent(bctx, e, id, payload)
	switch {
	case err != nil:
		log.Warn("worker: fanning out an event failed", "err", err.Error())
	case payload == nil:
		log.Info("event dropped: its call was deleted first")
	default:
		log.Info("event fanned out", "message_id", id, "deliveries", n)
		if n > 1 {
			// More than this worker will send next: wake another.
			p.wakeDelivery()
		}
	}
	return true
}

// eventCall is the call as events show it.
type eventCall struct {
	SID       string               `json:"sid"`
	Status    storage.CallStatus   `json:"status"`
	From      string               `json:"from"`
	To        string               `json:"to"`
	Direction string               `json:"direction"`
	CreatedAt time.Time            `json:"created_at"`
	EndedAt   *time.Time           `json:"ended_at"`
	Duration  int                  `json:"duration"`
	Assistant storage.AssistantRef `json:"assistant"`
}

// eventPayload builds the message of e with webhook-id id: the envelope
// {type, version, id, created_at, data} and the data of its type (see the
// API document's webhooks). It returns nil, dropping the event, when what
// the event is about was deleted before it was fanned out.
func (p *Pool) eventPayload(ctx context.Context, e storage.Event, id string) ([]byte, error) {
	data := map[string]any{"call_sid": e.CallSID}
	if e.Type == storage.EventCallDeleted {
		data["deleted_at"] = e.CreatedAt
	} else {
		c, err := p.calls.GetCall(ctx, e.CallSID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		data["call"] = eventCall{SID: c.SID, Status: c.Status, From: c.From, To: c.To, Direction: c.Direction,
			CreatedAt: c.CreatedAt, EndedAt: c.EndedAt, Duration: c.Duration, Assistant: c.Assistant}
		switch e.Type {
		case storage.EventCallSummarized:
			if c.Summary == nil {
				return nil, nil
			}
			data["summary"], data["analysis"] = c.Summary, c.Analysis
		case storage.EventRecordingStored:
			found := false
			for _, r := range c.Recordings {
				if r.SID == e.Subject {
					data["recording"], found = r, true
				}
			}
			if !found {
				return nil, nil
			}
		case storage.EventTransferCompleted:
			turn, _ := strconv.Atoi(e.Subject)
			found := false
			for _, tr := range c.Transfers {
				if tr.Turn == turn {
					data["transfer"], found = tr, true
				}
			}
			if !found {
				return nil, nil
			}
		}
	}
	return json.Marshal(map[string]any{
		"type": e.Type, "version": PayloadVersion, "id": id, "created_at": e.CreatedAt, "data": data,
	})
}

// deliverOne claims a delivery and sends it. It reports whether one was
// found.
func (p *Pool) deliverOne(ctx context.Context) bool {
	wc := p.cfg.Webhooks
	// The lease outlasts the attempt's timeout with room to record the
	// outcome; an instance that dies mid-attempt holds the delivery this
	// long before another sends it again (the same message).
	lease := wc.Timeout + deliveryLeaseMargin
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	d, ok, err := p.events.ClaimDelivery(bctx, p.now(), lease, wc.PerEndpoint)
	bcancel()
	if err != nil {
		p.log.Warn("worker: claiming a delivery failed", "err", err.Error())
		return false
	}
	if !ok {
		return false
	}
	log := p.log.With("delivery_id", d.ID, "endpoint", d.EndpointID, "event", d.EventType, "message_id", d.MessageID,
		"attempt", d.Attempts+1)
	start := p.now()
	resp, err := p.out.Post(ctx, outbound.Request{URL: d.URL, Body: d.Payload, Secret: d.Secret, ID: d.MessageID, Timeout: wc.Timeout})
	attempt := storage.DeliveryAttempt{At: start, Status: resp.Status, DurationMS: float64(resp.Duration.Microseconds()) / 1000}
	bctx, bcancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bcancel()
	delivered := resp.Status >= 200 && resp.Status <= 299 && (err == nil || errors.Is(err, outbound.ErrResponseTooLarge))
	if !delivered && ctx.Err() != nil {
		// Stopping: give the delivery back untried.
		if rerr := p.events.ReleaseDelivery(bctx, d); rerr != nil {
			log.Warn("worker: releasing a delivery failed", "err", rerr.Error())
		}
		p.metrics.deliveries.WithLabelValues("released").Inc()
		return true
	}
	o := storage.DeliveryOutcome{Delivered: delivered}
	if !delivered {
		attempt.Error = deliveryError(resp, err)
		pol := p.cfg.DeliveryPolicy()
		next, again := pol.Next(d.Attempts+1, d.CreatedAt, p.now())
		o.RetryAt, o.GiveUp = next, !again
		if o.GiveUp {
			o.DisableReason = fmt.Sprintf("deliveries failed for %s (%d attempts); the last: %s", pol.Window, d.Attempts+1, attempt.Error)
		}
	}
	o.Attempt = attempt
	if ferr := p.events.FinishAttempt(bctx, d, o); ferr != nil {
		log.Warn("worker: recording a delivery attempt failed", "err", ferr.Error())
	}
	switch {
	case delivered:
		p.metrics.deliveries.WithLabelValues("delivered").Inc()
		log.Info("event delivered", "status", resp.Status, "ms", attempt.DurationMS)
	case o.GiveUp:
		p.metrics.deliveries.WithLabelValues("failed").Inc()
		log.Error("event delivery failed for good; endpoint disabled", "err", attempt.Error)
	default:
		p.metrics.deliveries.WithLabelValues("retry").Inc()
		log.Warn("event delivery failed; will retry", "err", attempt.Error, "retry_at", o.RetryAt)
	}
	return true
}

// deliveryError says why an attempt failed, briefly and without the URL
// (which may carry a secret in its query).
func deliveryError(resp outbound.Response, err error) string {
	var refused *outbound.RefusedError
	switch {
	case errors.As(err, &refused):
		return "target refused: " + refused.Reason
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case resp.Status != 0:
		return "status " + strconv.Itoa(resp.Status)
	case err != nil:
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return msg
	}
	return "no answer"
}
