package storage

// Input checks shared by every CallStore, so all implementations refuse the
// same inputs with the same messages.

// Check validates a new call and returns it with its status defaulted to
// ringing. ErrInvalid for a malformed SID or an unknown status.
func (nc NewCall) Check() (NewCall, error) {
	if err := CheckSID("call SID", nc.SID, "CA"); err != nil {
		return nc, err
	}
	if nc.AccountSID != "" {
		if err := CheckSID("account SID", nc.AccountSID, "AC"); err != nil {
			return nc, err
		}
	}
	if nc.Status == "" {
		nc.Status = StatusRinging
	}
	if !nc.Status.Valid() {
		return nc, Errorf(ErrInvalid, "unknown call status")
	}
	return nc, nil
}

// Check validates a turn to be added. ErrInvalid for a number outside
// 0..MaxTurn, an unknown role or text over MaxTurnText.
func (t Turn) Check() error {
	if t.Number < 0 || t.Number > MaxTurn {
		return Errorf(ErrInvalid, "turn number must be 0 to %d", MaxTurn)
	}
	if t.Role != RoleAssistant && t.Role != RoleCaller {
		return Errorf(ErrInvalid, "turn role must be %q or %q", RoleAssistant, RoleCaller)
	}
	if len(t.Text) > MaxTurnText {
		return Errorf(ErrInvalid, "turn text must be at most %d bytes", MaxTurnText)
	}
	if t.Role == RoleCaller && (t.Interrupted || t.Latency != nil || t.ToolCalls != nil || t.Transfer != nil) {
		return Errorf(ErrInvalid, "only assistant turns are interrupted, timed, call tools or transfer")
	}
	if len(t.ToolCalls) > MaxToolCalls {
		return Errorf(ErrInvalid, "a turn makes at most %d tool calls", MaxToolCalls)
	}
	for _, tc := range t.ToolCalls {
		if len(tc.Arguments)+len(tc.Result) > 2*MaxToolJSON || len(tc.Name) > MaxToolName || len(tc.ID) > 200 || len(tc.Error) > 1000 {
			return Errorf(ErrInvalid, "a tool call's name, arguments, result or error is too long")
		}
	}
	if tr := t.Transfer; tr != nil && (tr.Turn != t.Number || len(tr.Summary) > MaxTurnText || len(tr.Target) > MaxToolName) {
		return Errorf(ErrInvalid, "a transfer belongs to its turn and its summary is at most %d bytes", MaxTurnText)
	}
	if l := t.Latency; l != nil {
		for _, ms := range []float64{l.FirstTokenMS, l.FirstTextMS, l.LastTextMS} {
			if ms != ms || ms < -1 || ms > MaxLatencyMS {
				return Errorf(ErrInvalid, "turn latency must be -1 or 0 to %d ms", MaxLatencyMS)
			}
		}
	}
	return nil
}

// CheckNew validates a recording to be added and returns it with its state
// defaulted to pending. ErrInvalid for malformed SIDs or a state other than
// pending or failed.
func (r Recording) CheckNew() (Recording, error) {
	if err := CheckSID("recording SID", r.SID, "RE"); err != nil {
		return r, err
	}
	if err := CheckSID("call SID", r.CallSID, "CA"); err != nil {
		return r, err
	}
	if r.AccountSID != "" {
		if err := CheckSID("account SID", r.AccountSID, "AC"); err != nil {
			return r, err
		}
	}
	switch r.State {
	case "":
		r.State = RecordingPending
	case RecordingPending, RecordingFailed:
	default:
		return r, Errorf(ErrInvalid, "a new recording must be pending or failed")
	}
	return r, nil
}

// PageLimit checks the filter's status, number, assistant and analysis
// matches and returns its page size: 0 means DefaultPageSize, and larger
// sizes are capped at MaxPageSize. ErrInvalid for a negative limit, an
// unknown status, a number that is neither a full E.164 number nor 4 to
// 15 digits, a malformed assistant ID or too many analysis filters.
func (f CallFilter) PageLimit() (int, error) {
	if f.Status != "" && !f.Status.Valid() {
		return 0, Errorf(ErrInvalid, "unknown call status")
	}
	if f.Number != "" {
		if _, err := NormalizeNumber(f.Number); err != nil {
			return 0, err
		}
	}
	if f.Assistant != "" && !ValidAssistantID(f.Assistant) {
		return 0, Errorf(ErrInvalid, "assistant must be an assistant ID")
	}
	if len(f.Analysis) > MaxAnalysisMatches {
		return 0, Errorf(ErrInvalid, "at most %d analysis filters", MaxAnalysisMatches)
	}
	switch {
	case f.Limit < 0:
		return 0, Errorf(ErrInvalid, "limit must not be negative")
	case f.Limit == 0:
		return DefaultPageSize, nil
	}
	return min(f.Limit, MaxPageSize), nil
}

// CheckCaller validates the caller's turn of a speech webhook: a turn
// (see Check) numbered from 1.
func (t Turn) CheckCaller() error {
	if err := t.Check(); err != nil {
		return err
	}
	if t.Number < 1 {
		return Errorf(ErrInvalid, "a caller's turn is numbered from 1")
	}
	return nil
}
