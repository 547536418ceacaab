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
	// ErrStale: a write named the version it was made against and the
	// resource has moved on since (optimistic concurrency); nothing changed.
	ErrStale = errors.New("stale")
)

var kinds = []error{ErrNotFound, ErrInvalid, ErrConflict, ErrUnauthorized, ErrUnavailable, ErrGone, ErrStale}

// Error is an error of a known kind with a message that is safe to show to
// clients. Err, when set, carries the underlying cause for logs only.
type Error struct {
	Kind error  // one of the Err* kinds above
	Msg  string // safe for clients: never contains secrets or driver detail
	Err  error  // the cause, for logs
	// Fields names each bad field of an ErrInvalid input, so a client can
	// fix them all at once.
	Fields []FieldError
}

// FieldError is one rule an input field breaks.
type FieldError struct {
	// Field is the field's JSON name, dotted for nested ones ("model.name").
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidFields returns the ErrInvalid error of an input (what: "assistant")
// whose fields break rules: its message names every field, and Fields
// lists them. It returns nil when fields is empty.
func InvalidFields(what string, fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	msg := "invalid " + what + ":"
	for i, f := range fields {
		if i > 0 {
			msg += ";"
		}
		msg += " " + f.Field + ": " + f.Message
	}
	return &Error{Kind: ErrInvalid, Msg: msg, Fields: fields}
}

// FieldsOf returns the field errors err carries, if any.
func FieldsOf(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
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
