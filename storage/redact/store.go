package redact

import (
	"context"
	"time"

	"switchboard/storage"
)

// Store is a storage.Store that redacts what it is given to keep before
// the store it wraps keeps it: the text of every caller and assistant turn
// (with REDACT=all, in both call modes, since both store turns through
// AddTurn or BeginTurn), what the caller heard of an interrupted turn,
// each tool call's arguments, result and error, a transfer's summary, the
// error a failed turn or work item records, the post-call summary and the
// analysis fields. Reads return what was stored, redacted. The greeting
// StartCall stores is the assistant's configuration, said to every
// caller, and is kept as written.
type Store struct {
	storage.Store
}

var (
	_ storage.Store           = (*Store)(nil)
	_ storage.TurnInterrupter = (*Store)(nil)
	_ storage.TransferWriter  = (*Store)(nil)
)

// NewStore wraps s. Wrapping a Store again returns it as it is.
func NewStore(s storage.Store) *Store {
	if r, ok := s.(*Store); ok {
		return r
	}
	return &Store{Store: s}
}

// Unwrap is the store that keeps the redacted data.
func (s *Store) Unwrap() storage.Store { return s.Store }

// Turn returns t with its text, error, tool calls and transfer summary
// redacted.
func Turn(t storage.Turn) storage.Turn {
	t.Text = bounded(String(t.Text), storage.MaxTurnText)
	t.Error = String(t.Error)
	if len(t.ToolCalls) > 0 {
		calls := make([]storage.ToolCall, len(t.ToolCalls))
		for i, tc := range t.ToolCalls {
			tc.Arguments, _ = JSON(tc.Arguments)
			tc.Result, _ = JSON(tc.Result)
			tc.Error = String(tc.Error)
			calls[i] = tc
		}
		t.ToolCalls = calls
	}
	if t.Transfer != nil {
		tr := *t.Transfer
		tr.Summary = String(tr.Summary)
		t.Transfer = &tr
	}
	return t
}

// bounded cuts s to at most n bytes on a character boundary: a
// placeholder may be a byte or two longer than the data it replaced.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// BeginTurn stores the caller's words redacted.
func (s *Store) BeginTurn(ctx context.Context, c storage.NewCall, t storage.Turn) (storage.TurnState, error) {
	return s.Store.BeginTurn(ctx, c, Turn(t))
}

// AddTurn stores t redacted.
func (s *Store) AddTurn(ctx context.Context, t storage.Turn) (storage.Turn, bool, error) {
	return s.Store.AddTurn(ctx, Turn(t))
}

// InterruptTurn stores what the caller heard, redacted.
func (s *Store) InterruptTurn(ctx context.Context, callSID string, number int, heard string) (storage.Turn, error) {
	ti, ok := s.Store.(storage.TurnInterrupter)
	if !ok {
		return storage.Turn{}, storage.Errorf(storage.ErrUnavailable, "the call store cannot record interruptions")
	}
	return ti.InterruptTurn(ctx, callSID, number, bounded(String(heard), storage.MaxTurnText))
}

// AnswerTransfer is the wrapped store's: it records no free text.
func (s *Store) AnswerTransfer(ctx context.Context, callSID string, n int, childSID string, at time.Time) (storage.Transfer, error) {
	tw, ok := s.Store.(storage.TransferWriter)
	if !ok {
		return storage.Transfer{}, storage.Errorf(storage.ErrUnavailable, "the call store cannot record transfers")
	}
	return tw.AnswerTransfer(ctx, callSID, n, childSID, at)
}

// EndTransfer is the wrapped store's: it records no free text.
func (s *Store) EndTransfer(ctx context.Context, callSID string, n int, end storage.TransferEnd) (storage.Transfer, error) {
	tw, ok := s.Store.(storage.TransferWriter)
	if !ok {
		return storage.Transfer{}, storage.Errorf(storage.ErrUnavailable, "the call store cannot record transfers")
	}
	return tw.EndTransfer(ctx, callSID, n, end)
}

// CompleteSummary stores the summary redacted.
func (s *Store) CompleteSummary(ctx context.Context, w storage.Work, sum storage.Summary, analyze bool) error {
	sum.Text, sum.Reason, sum.Outcome = String(sum.Text), String(sum.Reason), String(sum.Outcome)
	return s.Store.CompleteSummary(ctx, w, sum, analyze)
}

// CompleteAnalysis stores the analysis fields redacted: a value that was
// personal data becomes its placeholder (a string, even where the schema
// asked for a number).
func (s *Store) CompleteAnalysis(ctx context.Context, w storage.Work, a storage.Analysis) error {
	a.Fields, _ = JSON(a.Fields)
	return s.Store.CompleteAnalysis(ctx, w, a)
}

// FailWork keeps the failure's message redacted: a provider's error may
// quote what it was sent.
func (s *Store) FailWork(ctx context.Context, w storage.Work, f storage.Failure) error {
	f.Err = String(f.Err)
	return s.Store.FailWork(ctx, w, f)
}
