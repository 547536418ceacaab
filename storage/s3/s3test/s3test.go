// Package s3test is an in-process S3 for tests: gofakes3 served over real
// HTTP, so the AWS SDK is exercised as in production (signing, retries,
// multipart uploads, connection errors), behind a handler that records every
// request and can inject faults (an error status, a request that never
// answers, a connection cut mid-body). Tests inspect the backend directly to
// see what S3 really holds, whatever the client under test believes.
//
// It does not import storage/s3, whose own tests use it.
package s3test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
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
)

// Bucket is the bucket every Server starts with, empty.
const Bucket = "switchboard-test"

// ReplicaBucket is the bucket a replica Server (NewReplica) starts with
// instead: the other region's bucket that S3 replication copies Bucket to.
const ReplicaBucket = "switchboard-test-replica"

// Server is gofakes3 over real HTTP behind a handler that records every
// request and can inject faults. Create it with New or NewVersioned.
type Server struct {
	// URL is the server's base URL, for path-style requests.
	URL string

	srv     *httptest.Server
	backend *s3mem.Backend
	bucket  string

	mu       sync.Mutex
	requests []Request
	fault    func(r *http.Request) Fault
	release  chan struct{} // closed by Close to free hanging requests
	closing  sync.Once
}

// Request is what a test may inspect of a request S3 received.
type Request struct {
	Op     string // see Op
	Path   string
	Query  url.Values
	Header http.Header
}

// Fault is what the fault injector does with a request; the zero Fault
// passes it to S3.
type Fault struct {
	Status int    // answer this status with an S3 error body
	Code   string // the S3 error code for Status
	Hang   bool   // never answer (until the client gives up or Close)
	Cut    int64  // read this many body bytes, then close the connection
	Drop   bool   // close the connection without answering
}

// Faults S3 really answers.
var (
	InternalError = Fault{Status: http.StatusInternalServerError, Code: "InternalError"}
	SlowDown      = Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown"}
	AccessDenied  = Fault{Status: http.StatusForbidden, Code: "AccessDenied"}
	// Unreachable is an endpoint that takes connections but drops them, as
	// a region in an outage may.
	Unreachable = Fault{Drop: true}
)

// New starts a fake S3 with an empty Bucket, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	return newServer(t, Bucket)
}

// NewReplica is NewVersioned with ReplicaBucket instead of Bucket: another
// region's S3, holding the bucket recordings are replicated to.
func NewReplica(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, ReplicaBucket)
	s.version(t)
	return s
}

func newServer(t testing.TB, bucket string) *Server {
	t.Helper()
	s := &Server{backend: s3mem.New(), bucket: bucket, release: make(chan struct{})}
	if err := s.backend.CreateBucket(bucket); err != nil {
		t.Fatalf("creating the bucket: %v", err)
	}
	s.srv = httptest.NewServer(s.handler(gofakes3.New(s.backend).Server()))
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// NewVersioned is New with versioning enabled on Bucket, so it keeps every
// version of an object and leaves delete markers.
func NewVersioned(t testing.TB) *Server {
	t.Helper()
	s := New(t)
	s.version(t)
	return s
}

func (s *Server) version(t testing.TB) {
	t.Helper()
	if err := s.backend.SetVersioningConfiguration(s.bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		t.Fatalf("enabling versioning: %v", err)
	}
}

// BucketName is the server's bucket: Bucket, or ReplicaBucket for NewReplica.
func (s *Server) BucketName() string { return s.bucket }

// Close frees hanging requests and stops the server: later requests fail
// to connect, as when S3 cannot be reached. Safe to call more than once.
func (s *Server) Close() {
	s.closing.Do(func() { close(s.release) })
	s.srv.Close()
}

func (s *Server) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Op: Op(r), Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
		inject := s.fault
		s.mu.Unlock()
		var ft Fault
		if inject != nil {
			ft = inject(r)
		}
		switch {
		case ft.Hang:
			select {
			case <-r.Context().Done():
			case <-s.release:
			}
		case ft.Drop:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		case ft.Cut > 0:
			_, _ = io.CopyN(io.Discard, r.Body, ft.Cut)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case ft.Status != 0:
			// Read the request first, as S3 does, so the client sees the
			// answer rather than a reset connection.
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(ft.Status)
			if r.Method != http.MethodHead {
				_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+ft.Code+`</Code><Message>injected fault</Message></Error>`)
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// SetFault makes every later request go through fn; nil stops injecting.
func (s *Server) SetFault(fn func(r *http.Request) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = fn
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Seen returns the requests received so far for the given operation (see Op).
func (s *Server) Seen(op string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// Op names the S3 operation a path-style request is ("PutObject",
// "UploadPart", "HeadBucket", …), as far as switchboard's store uses S3;
// any other request is named by its method and path.
func Op(r *http.Request) string {
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

// Client is an S3 client for the server: path-style on its URL, static
// credentials, a short retry budget so fault tests stay fast, and timeout
// as the HTTP client's timeout (0: none).
func (s *Server) Client(timeout time.Duration) *s3api.Client {
	return s3api.New(s3api.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Timeout: timeout},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = 10 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
}

// Versions asks the backend directly for every version and delete marker
// of exactly objectKey in the server's bucket, as "v:<id>" and "marker:<id>".
func (s *Server) Versions(t testing.TB, objectKey string) []string {
	t.Helper()
	prefix := gofakes3.Prefix{HasPrefix: true, Prefix: objectKey}
	out, err := s.backend.ListBucketVersions(s.bucket, &prefix, nil)
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

// Exists asks the backend directly whether the server's bucket holds objectKey.
func (s *Server) Exists(t testing.TB, objectKey string) bool {
	t.Helper()
	_, err := s.backend.HeadObject(s.bucket, objectKey)
	if err == nil {
		return true
	}
	if !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
		t.Fatalf("HeadObject(%q) in the backend: %v", objectKey, err)
	}
	return false
}

// Object reads objectKey of the server's bucket straight from the backend.
func (s *Server) Object(t testing.TB, objectKey string) []byte {
	t.Helper()
	obj, err := s.backend.GetObject(s.bucket, objectKey, nil)
	if err != nil {
		t.Fatalf("reading %q from the backend: %v", objectKey, err)
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		t.Fatalf("reading %q from the backend: %v", objectKey, err)
	}
	return b
}

// PendingUploads counts the multipart uploads in the server's bucket
// neither completed nor aborted.
func (s *Server) PendingUploads(t testing.TB) int {
	t.Helper()
	out, err := s.Client(0).ListMultipartUploads(context.Background(), &s3api.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		// gofakes3 answers NoSuchUpload for a bucket that never had one.
		if strings.Contains(err.Error(), "NoSuchUpload") {
			return 0
		}
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	return len(out.Uploads)
}

// Replicate stores body as a new version of objectKey straight in the
// backend, as S3 replication writes its copies into a replica bucket: it
// may happen at any time after the source's write, a call's deletion
// included.
func (s *Server) Replicate(t testing.TB, objectKey string, body []byte) {
	t.Helper()
	meta := map[string]string{"Content-Type": "audio/wav"}
	if _, err := s.backend.PutObject(s.bucket, objectKey, meta, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatalf("replicating %q into the backend: %v", objectKey, err)
	}
}

// Bytes returns n deterministic pseudo-random bytes for seed: object
// contents and recordings whose every byte a test can check.
func Bytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}
