package s3

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"switchboard/storage"
)

const testBucket = "switchboard-test"

// fakeS3 is gofakes3 served over real HTTP behind a handler that records
// every request and can inject faults.
type fakeS3 struct {
	srv     *httptest.Server
	backend *s3mem.Backend

	mu       sync.Mutex
	requests []seenRequest
	fault    func(r *http.Request) fault
	release  chan struct{} // closed at cleanup to free hanging requests
}

// seenRequest is what a test may inspect of a request S3 received.
type seenRequest struct {
	Op     string // see opOf
	Path   string
	Query  url.Values
	Header http.Header
}

// fault is what the fault injector does with a request.
type fault struct {
	status int    // answer this status with an S3 error body
	code   string // the S3 error code for status
	hang   bool   // never answer (until the client gives up)
	cut    int64  // read this many body bytes, then close the connection
}

// mustFakeS3 starts a fake S3 with an empty test bucket, stopped at cleanup.
func mustFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	f := &fakeS3{backend: s3mem.New(), release: make(chan struct{})}
	if err := f.backend.CreateBucket(testBucket); err != nil {
		t.Fatalf("creating the bucket: %v", err)
	}
	faker := gofakes3.New(f.backend)
	f.srv = httptest.NewServer(f.handler(faker.Server()))
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

func (f *fakeS3) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, seenRequest{Op: opOf(r), Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
		inject := f.fault
		f.mu.Unlock()
		var ft fault
		if inject != nil {
			ft = inject(r)
		}
		switch {
		case ft.hang:
			select {
			case <-r.Context().Done():
			case <-f.release:
			}
		case ft.cut > 0:
			_, _ = io.CopyN(io.Discard, r.Body, ft.cut)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case ft.status != 0:
			// Read the request first, as S3 does, so the client sees the
			// answer rather than a reset connection.
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(ft.status)
			if r.Method != http.MethodHead {
				_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+ft.code+`</Code><Message>injected fault</Message></Error>`)
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// setFault makes every later request go through fn; nil stops injecting.
func (f *fakeS3) setFault(fn func(r *http.Request) fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

// seen returns the requests received so far for the given operation.
func (f *fakeS3) seen(op string) []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []seenRequest
	for _, r := range f.requests {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// opOf names the S3 operation a request is, as far as these tests need.
func opOf(r *http.Request) string {
	q := r.URL.Query()
	object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
	_, uploads := q["uploads"]
	switch {
	case r.Method == http.MethodPost && uploads:
		return "CreateMultipartUpload"
	case r.Method == http.MethodPut && q.Get("partNumber") != "":
		return "UploadPart"
	case r.Method == http.MethodPost && q.Get("uploadId") != "":
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Get("uploadId") != "":
		return "AbortMultipartUpload"
	case r.Method == http.MethodGet && uploads:
		return "ListMultipartUploads"
	case r.Method == http.MethodGet && q.Has("versions") && !object:
		return "ListObjectVersions"
	case r.Method == http.MethodPost && q.Has("delete") && !object:
		return "DeleteObjects"
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		return "CopyObject"
	case r.Method == http.MethodPut && object:
		return "PutObject"
	case r.Method == http.MethodHead && object:
		return "HeadObject"
	case r.Method == http.MethodHead:
		return "HeadBucket"
	case r.Method == http.MethodGet && object:
		return "GetObject"
	case r.Method == http.MethodDelete && object:
		return "DeleteObject"
	}
	return r.Method + " " + r.URL.Path
}

// newClient is an S3 client for the fake: path-style on its URL, static
// credentials, a short retry budget so fault tests stay fast, and timeout
// as the HTTP client's timeout (0: none).
func (f *fakeS3) newClient(timeout time.Duration) *s3api.Client {
	return s3api.New(s3api.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(f.srv.URL),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Timeout: timeout},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = 10 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
}

// mustStore builds a Store on the fake with cfg (bucket filled in) and
// 5 MiB parts unless cfg says otherwise.
func mustStore(t *testing.T, f *fakeS3, cfg Config) *Store {
	t.Helper()
	return mustStoreWith(t, f.newClient(0), cfg)
}

func mustStoreWith(t *testing.T, c *s3api.Client, cfg Config) *Store {
	t.Helper()
	if cfg.Bucket == "" {
		cfg.Bucket = testBucket
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

// mustVersionedFakeS3 is a fake S3 whose test bucket keeps every version.
func mustVersionedFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	f := mustFakeS3(t)
	if err := f.backend.SetVersioningConfiguration(testBucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		t.Fatalf("enabling versioning: %v", err)
	}
	return f
}

// versionsOf asks the backend directly for every version and delete marker
// of exactly objectKey, as "v:<id>" and "marker:<id>".
func (f *fakeS3) versionsOf(t testing.TB, objectKey string) []string {
	t.Helper()
	prefix := gofakes3.Prefix{HasPrefix: true, Prefix: objectKey}
	out, err := f.backend.ListBucketVersions(testBucket, &prefix, nil)
	if err != nil {
		t.Fatalf("listing the versions of %q in the backend: %v", objectKey, err)
	}
	var vs []string
	for _, item := range out.Versions {
		switch v := item.(type) {
		case *gofakes3.Version:
			if v.Key == objectKey {
				vs = append(vs, "v:"+string(v.VersionID))
			}
		case *gofakes3.DeleteMarker:
			if v.Key == objectKey {
				vs = append(vs, "marker:"+string(v.VersionID))
			}
		default:
			t.Fatalf("unexpected version item %T", item)
		}
	}
	return vs
}

// objectExists asks the backend directly whether S3 holds the object.
func (f *fakeS3) objectExists(t *testing.T, objectKey string) bool {
	t.Helper()
	_, err := f.backend.HeadObject(testBucket, objectKey)
	if err == nil {
		return true
	}
	if !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
		t.Fatalf("HeadObject(%q) in the backend: %v", objectKey, err)
	}
	return false
}

// pendingUploads counts multipart uploads neither completed nor aborted.
func (f *fakeS3) pendingUploads(t *testing.T) int {
	t.Helper()
	out, err := f.newClient(0).ListMultipartUploads(context.Background(), &s3api.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	if err != nil {
		// gofakes3 answers NoSuchUpload for a bucket that never had one.
		if strings.Contains(err.Error(), "NoSuchUpload") {
			return 0
		}
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	return len(out.Uploads)
}

// checkKind fails the test unless err wraps kind.
func checkKind(t *testing.T, op string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want one wrapping %q", op, err, kind)
	}
}

// checkNoObject fails the test if the store or the backend shows key.
func checkNoObject(t *testing.T, f *fakeS3, s *Store, key string) {
	t.Helper()
	if f.objectExists(t, s.cfg.Prefix+key) {
		t.Errorf("object %q exists after a failed Put", key)
	}
	if n := f.pendingUploads(t); n != 0 {
		t.Errorf("%d multipart uploads left pending, want 0 (aborted)", n)
	}
	_, err := s.Stat(context.Background(), key)
	checkKind(t, "Stat after a failed Put", err, storage.ErrNotFound)
}
