package storage

import (
	"errors"
	"fmt"
)

// Error kinds. Every error a store returns wraps exactly one of them, so
// callers branch with errors.Is and the HTTP layer maps each kind to one status.
var (
	// ErrNotFound: the call, recording, turn, work item or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the input breaks a rule (format, size, enum value, sequence).
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the operation lost a race or its precondition no longer holds
	// (for example a work lease that expired and was claimed by another worker).
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized: credentials are missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: a dependency (database, bucket, provider) cannot be reached
	// right now; the same request may succeed later.
	ErrUnavailable = errors.New("unavailable")
	// ErrGone: the call was deleted and its SID is remembered (a tombstone),
	// so a write about it stored nothing. Unlike ErrNotFound it is final: the
	// write must not be retried, and the caller must not create the call.
	ErrGone = errors.New("gone")
)

var kinds = []error{ErrNotFound, ErrInvalid, ErrConflict, ErrUnauthorized, ErrUnavailable, ErrGone}

// Error is an error of a known kind with a message that is safe to show to
// clients. Err, when set, carries the underlying cause for logs only.
type Error struct {
	Kind error  // one of the Err* kinds above
	Msg  string // safe for clients: never contains secrets or driver detail
	Err  error  // the cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Errorf returns an error of the given kind with a formatted, client-safe message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of the given kind with a client-safe message and the
// cause kept for logs. Wrap returns nil when err is nil.
func Wrap(kind error, err error, msg string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Msg: msg, Err: err}
}

// KindOf returns the kind err wraps, or nil for an internal error.
func KindOf(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// Message returns the client-safe message of err: the Msg of the outermost
// *Error, the kind's name for a bare kind, or "" for an internal error.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	if k := KindOf(err); k != nil {
		return k.Error()
	}
	return ""
}
