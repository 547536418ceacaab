package s3

import (
	"context"
	"errors"
	"testing"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"switchboard/storage"
	"switchboard/storage/s3/s3test"
)

// The tests run the store against s3test's fake S3 over real HTTP; these
// helpers build a store on it and check what a failed write left behind.

// mustStore builds a Store on the fake with cfg (bucket filled in) and
// 5 MiB parts unless cfg says otherwise.
func mustStore(t *testing.T, f *s3test.Server, cfg Config) *Store {
	t.Helper()
	return mustStoreWith(t, f.Client(0), cfg)
}

func mustStoreWith(t *testing.T, c *s3api.Client, cfg Config) *Store {
	t.Helper()
	if cfg.Bucket == "" {
		cfg.Bucket = s3test.Bucket
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = MinPartSize
	}
	s, err := NewWithClient(c, cfg)
	if err != nil {
		t.Fatalf("NewWithClient: %v", err)
	}
	return s
}

// checkKind fails the test unless err wraps kind.
func checkKind(t *testing.T, op string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want one wrapping %q", op, err, kind)
	}
}

// checkNoObject fails the test if the store or the backend shows key.
func checkNoObject(t *testing.T, f *s3test.Server, s *Store, key string) {
	t.Helper()
	if f.Exists(t, s.cfg.Prefix+key) {
		t.Errorf("object %q exists after a failed Put", key)
	}
	if n := f.PendingUploads(t); n != 0 {
		t.Errorf("%d multipart uploads left pending, want 0 (aborted)", n)
	}
	_, err := s.Stat(context.Background(), key)
	checkKind(t, "Stat after a failed Put", err, storage.ErrNotFound)
}
