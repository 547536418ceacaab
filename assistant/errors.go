package assistant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"switchboard/storage"
)

// Outcomes of a model call: the values of the metrics' outcome label and of
// ModelError.Outcome.
const (
	OutcomeOK          = "ok"
	OutcomeTimeout     = "timeout"
	OutcomeRateLimited = "rate_limited"
	OutcomeError       = "error"
	OutcomeMalformed   = "malformed"
)

// StatusError is a provider's answer with an HTTP error status. Providers
// return it so the shared layer decides on retries the same way for all.
type StatusError struct {
	Status int
	// RetryAfter is the provider's requested wait (Retry-After), 0 if none.
	RetryAfter time.Duration
	Err        error
}

// Error includes the provider's detail; it is for logs, not for the turn.
func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("provider returned %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("provider returned %d", e.Status)
}

// Unwrap gives the SDK's own error.
func (e *StatusError) Unwrap() error { return e.Err }

// MalformedError is a provider answer that could not be understood: not
// JSON, no choices, no text. Retrying the same request rarely helps.
type MalformedError struct {
	What string
	Err  error
}

// Error says what could not be understood, for logs.
func (e *MalformedError) Error() string {
	if e.Err != nil {
		return "malformed response: " + e.What + ": " + e.Err.Error()
	}
	return "malformed response: " + e.What
}

// Unwrap gives the decoding error, if any.
func (e *MalformedError) Unwrap() error { return e.Err }

// ModelError is what Reply and Summarize return on failure. Its text is short
// and safe to store on the turn and show in the API ("assistant timed out
// after 8s", "provider returned 500 after 3 attempts"); the kind (through
// errors.Is) is storage.ErrUnavailable for provider trouble and
// storage.ErrInvalid for a conversation that cannot be answered; the cause
// stays reachable with errors.Is/As for logs.
type ModelError struct {
	Kind    error
	Outcome string
	Msg     string
	Err     error
}

// Error is the short message alone: it is stored on the turn as is.
func (e *ModelError) Error() string { return e.Msg }

// Unwrap exposes a *storage.Error carrying the kind and message first, so
// storage.KindOf and storage.Message work, then the cause.
func (e *ModelError) Unwrap() []error {
	errs := []error{&storage.Error{Kind: e.Kind, Msg: e.Msg}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// RetryAfter reads a provider's requested wait: OpenAI's and Azure's
// retry-after-ms first, then the standard Retry-After in seconds or as an
// HTTP date. It returns 0 when there is none.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// verdict is how the shared layer treats one failed attempt.
type verdict struct {
	outcome    string
	retry      bool
	retryAfter time.Duration
	msg        string
}

// pause is how long to wait before the attempt after attempt, and whether
// one is worth making: the failure is worth retrying and the wait leaves
// the next attempt time to finish before deadline.
func (v verdict) pause(attempt int, deadline time.Time) (time.Duration, bool) {
	if !v.retry {
		return 0, false
	}
	wait := backoff(attempt)
	if v.retryAfter > 0 {
		wait = v.retryAfter
	}
	return wait, time.Until(deadline) >= wait+minAttempt
}

// after is the verdict's message, saying how many attempts it took.
func (v verdict) after(attempt int) string {
	if attempt > 1 {
		return v.msg + " after " + strconv.Itoa(attempt) + " attempts"
	}
	return v.msg
}

// classify decides whether a failed attempt is worth another try. It is
// called only while the turn's own deadline has not passed, so a deadline
// error here is the attempt's.
func classify(err error, attemptTimeout time.Duration) verdict {
	var se *StatusError
	var me *MalformedError
	var ne net.Error
	switch {
	case errors.As(err, &me):
		return verdict{outcome: OutcomeMalformed, msg: "provider returned a malformed response"}
	case errors.As(err, &se):
		v := verdict{outcome: OutcomeError, msg: fmt.Sprintf("provider returned %d", se.Status)}
		switch {
		case se.Status == http.StatusTooManyRequests:
			v.outcome, v.retry, v.retryAfter = OutcomeRateLimited, true, se.RetryAfter
		case se.Status == http.StatusRequestTimeout || se.Status >= 500:
			v.retry, v.retryAfter = true, se.RetryAfter
		}
		return v
	case errors.Is(err, context.DeadlineExceeded):
		return verdict{outcome: OutcomeTimeout, retry: true, msg: fmt.Sprintf("provider did not answer within %s", attemptTimeout)}
	case errors.Is(err, context.Canceled):
		return verdict{outcome: OutcomeError, msg: "assistant request canceled"}
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return verdict{outcome: OutcomeError, retry: true, msg: "provider unreachable"}
	}
	return verdict{outcome: OutcomeError, msg: "assistant request failed"}
}
