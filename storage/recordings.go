package storage

import "time"

// RecordingState is where a recording is in the archive pipeline.
type RecordingState string

// Recording states.
const (
	// RecordingPending: known, not yet archived (archiving may be retrying).
	RecordingPending RecordingState = "pending"
	// RecordingStored: the audio is in the blob store at BlobKey.
	RecordingStored RecordingState = "stored"
	// RecordingFailed: archiving gave up, or Twilio reported no audio; LastError says why.
	RecordingFailed RecordingState = "failed"
)

// Recording is a call recording and its archive state.
type Recording struct {
	SID        string `json:"sid"`
	CallSID    string `json:"call_sid"`
	AccountSID string `json:"-"`
	// SourceURL is Twilio's RecordingUrl (without extension).
	SourceURL string         `json:"-"`
	Duration  int            `json:"duration"` // seconds
	Channels  int            `json:"channels"`
	StartedAt *time.Time     `json:"started_at"`
	State     RecordingState `json:"state"`
	// BlobKey, Size, SHA256 and ContentType describe the archived audio.
	BlobKey     string     `json:"-"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	ContentType string     `json:"content_type"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	CreatedAt   time.Time  `json:"created_at"`
	StoredAt    *time.Time `json:"stored_at"`
}

// StoredBlob is what the archive worker reports after a confirmed upload.
type StoredBlob struct {
	Key         string
	Size        int64
	SHA256      string // lowercase hex
	ContentType string
}

// ArchiveKey is the blob key the archive worker writes r's audio under:
// RecordingKey of its account, call and recording SIDs and its start time
// (its creation time when Twilio did not report one), as WAV. The key is
// fixed from the moment the recording is stored, so the audio of a recording
// the store still calls pending (an upload that finished just before a crash,
// or one still running) can be found and deleted with its call. It is ""
// when r cannot have a valid key (no account SID): then no audio was ever
// written for it.
func (r Recording) ArchiveKey() string {
	started := r.CreatedAt
	if r.StartedAt != nil {
		started = *r.StartedAt
	}
	if !ValidSID(r.AccountSID, "AC") || !ValidSID(r.CallSID, "CA") || !ValidSID(r.SID, "RE") {
		return ""
	}
	return RecordingKey(r.AccountSID, r.CallSID, r.SID, started, "wav")
}

// BlobKeys returns every blob key the audio of recs may be under, each
// once: each recording's ArchiveKey, where the archive worker writes it
// whatever the store says of the recording, and the key it was stored
// under when that differs. Keys that CheckKey refuses are left out: no
// audio can be under them.
func BlobKeys(recs []Recording) []string {
	var keys []string
	seen := make(map[string]bool)
	for _, r := range recs {
		for _, k := range []string{r.ArchiveKey(), r.BlobKey} {
			if k == "" || seen[k] || CheckKey(k) != nil {
				continue
			}
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}
