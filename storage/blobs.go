package storage

import (
	"context"
	"io"
	"path"
	"strings"
	"time"
)

// BlobStore keeps recording audio. Keys are validated with CheckKey.
type BlobStore interface {
	// Put stores everything read from r under key, streaming (never holding
	// the whole object in memory), and returns its size and SHA-256. The
	// object becomes visible only once complete: a failed or cancelled Put
	// leaves no object (or the previous one) behind. ErrInvalid for a bad key.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (BlobInfo, error)

	// Open returns a reader for length bytes of the object from offset
	// (length < 0: to the end) and the object's info. ErrNotFound when the
	// object does not exist; ErrInvalid for a bad key or a range that starts
	// past the end.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, BlobInfo, error)

	// Stat returns the object's info. ErrNotFound when it does not exist.
	Stat(ctx context.Context, key string) (BlobInfo, error)

	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// Presigner is a BlobStore that can hand out time-limited links to objects.
type Presigner interface {
	// PresignGet returns a URL that fetches the object for ttl.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Pinger is a store that can check it is reachable; ErrUnavailable when not.
type Pinger interface {
	Ping(ctx context.Context) error
}

// BlobInfo describes a stored object.
type BlobInfo struct {
	Size        int64
	ContentType string
	SHA256      string // lowercase hex; "" when the store does not know it
	ModTime     time.Time
}

// MaxKeyLen bounds a blob key's length.
const MaxKeyLen = 512

// CheckKey returns an ErrInvalid error unless key is a relative slash-separated
// path of non-empty segments made of letters, digits, '-', '_' and '.', with
// no "." or ".." segment: such a key cannot escape a directory or prefix.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return Errorf(ErrInvalid, "blob key must be 1 to %d bytes", MaxKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return Errorf(ErrInvalid, "blob key has an empty, '.' or '..' segment")
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
				return Errorf(ErrInvalid, "blob key has a character outside [A-Za-z0-9._-/]")
			}
		}
	}
	return nil
}

// RecordingKey is the blob key of a recording's audio: partitioned by account,
// the recording's UTC start date, call and recording, so listings and
// lifecycle rules stay practical. The SIDs must already be validated.
func RecordingKey(accountSID, callSID, recordingSID string, started time.Time, ext string) string {
	d := started.UTC()
	return "recordings/" + accountSID + "/" + d.Format("2006/01/02") + "/" + callSID + "/" + recordingSID + "." + ext
}

// ContentTypeByExt is the content type of an object stored without one: the
// recording formats Twilio serves, else opaque bytes. Every blob store uses
// it, so an object reads back with the same type wherever it lives.
func ContentTypeByExt(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".wav":
		return "audio/wav"
	case ".mp3":
		return "audio/mpeg"
	default:
		return "application/octet-stream"
	}
}
