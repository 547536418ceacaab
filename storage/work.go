package storage

import "time"

// WorkKind names a kind of background work.
type WorkKind string

// The kinds of background work.
const (
	// WorkArchiveRecording downloads a recording from Twilio into the blob store.
	WorkArchiveRecording WorkKind = "archive_recording"
	// WorkSummarizeCall writes the post-call summary.
	WorkSummarizeCall WorkKind = "summarize_call"
	// WorkDeleteTwilioMedia deletes an archived recording at Twilio.
	WorkDeleteTwilioMedia WorkKind = "delete_twilio_media"
	// WorkAnalyzeCall fills the call's analysis from its assistant's
	// schema: after the summary, or for an AnalysisRun.
	WorkAnalyzeCall WorkKind = "analyze_call"
)

// Work is one item of durable background work, as claimed by a worker.
// It is created by the store in the same transaction as the change that
// causes it (a terminal status, a completed recording, a stored recording).
type Work struct {
	ID           int64
	Kind         WorkKind
	CallSID      string
	RecordingSID string // for recording work, "" otherwise
	// RunID is the AnalysisRun an analysis belongs to; 0 for the analysis
	// that follows a call's summary, which uses the call's own version.
	RunID int64
	// Attempts counts claims so far, including this one.
	Attempts  int
	LastError string
	// Lease identifies this claim. Completing, failing or releasing the work
	// with a stale lease returns ErrConflict: another worker owns it now.
	Lease      string
	LeaseUntil time.Time
}

// Failure reports a failed attempt at a work item.
type Failure struct {
	// Err is recorded as the work's (and its recording's) last error.
	Err string
	// RetryAt is when the work may be claimed again. Ignored when Final.
	RetryAt time.Time
	// Final gives up: the work is removed and a recording is marked failed.
	Final bool
}
