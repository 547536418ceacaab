package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/s3/s3test"
)

// on injects f into requests for op (and, when part is set, only that part).
func on(op, part string, f s3test.Fault) func(r *http.Request) s3test.Fault {
	return func(r *http.Request) s3test.Fault {
		if s3test.Op(r) != op || part != "" && r.URL.Query().Get("partNumber") != part {
			return s3test.Fault{}
		}
		return f
	}
}

// failingReader yields left bytes of r, then fails with err — once
// ready, when set, returns (so a test can hold the failure until the upload
// is under way).
type failingReader struct {
	r     io.Reader
	left  int64
	err   error
	ready func()
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		if f.ready != nil {
			f.ready()
			f.ready = nil
		}
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

func TestPutFaults(t *testing.T) {
	const small, large = 1 << 20, 12 << 20
	cases := []struct {
		name    string
		size    int
		timeout time.Duration
		fault   func(r *http.Request) s3test.Fault
	}{
		{"PutObject500/ErrUnavailable", small, 0, on("PutObject", "", s3test.InternalError)},
		{"PutObject503/ErrUnavailable", small, 0, on("PutObject", "", s3test.SlowDown)},
		{"PutObjectHangs/ErrUnavailable", small, 300 * time.Millisecond, on("PutObject", "", s3test.Fault{Hang: true})},
		{"CreateMultipartUpload503/ErrUnavailable", large, 0, on("CreateMultipartUpload", "", s3test.SlowDown)},
		{"Part500/ErrUnavailable", large, 0, on("UploadPart", "2", s3test.InternalError)},
		{"Part503/ErrUnavailable", large, 0, on("UploadPart", "3", s3test.SlowDown)},
		{"PartHangs/ErrUnavailable", large, 300 * time.Millisecond, on("UploadPart", "2", s3test.Fault{Hang: true})},
		{"ConnectionCutDuringPart/ErrUnavailable", large, 0, on("UploadPart", "2", s3test.Fault{Cut: 1 << 20})},
		{"Complete500/ErrUnavailable", large, 0, on("CompleteMultipartUpload", "", s3test.InternalError)},
		{"DigestCopy503/ErrUnavailable", large, 0, on("CopyObject", "", s3test.SlowDown)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s3test.New(t)
			s := mustStoreWith(t, f.Client(tc.timeout), Config{})
			f.SetFault(tc.fault)
			_, err := s.Put(context.Background(), "fault/rec.wav", bytes.NewReader(s3test.Bytes(6, tc.size)), "audio/wav")
			checkKind(t, "Put", err, storage.ErrUnavailable)
			f.SetFault(nil)
			checkNoObject(t, f, s, "fault/rec.wav")
		})
	}

	t.Run("ReaderFailsMidway/SourceErrorAndNoObject", func(t *testing.T) {
		f := s3test.New(t)
		s := mustStore(t, f, Config{})
		broke := errors.New("twilio connection reset")
		// The source fails in part 2, once part 1 has reached S3: the
		// upload of part 1 runs while part 2 is read, and would otherwise
		// race the failure.
		r := &failingReader{r: bytes.NewReader(s3test.Bytes(7, large)), left: 7 << 20, err: broke, ready: func() {
			deadline := time.Now().Add(10 * time.Second)
			for len(f.Seen("UploadPart")) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}}
		_, err := s.Put(context.Background(), "fault/rec.wav", r, "audio/wav")
		if !errors.Is(err, broke) {
			t.Errorf("Put error %v, want one wrapping the source's %q", err, broke)
		}
		if storage.KindOf(err) == storage.ErrUnavailable {
			t.Errorf("a failed source reported as the blob store being unavailable: %v", err)
		}
		if len(f.Seen("UploadPart")) == 0 {
			t.Error("no part was sent before the source failed; the test does not cut midway")
		}
		if len(f.Seen("AbortMultipartUpload")) == 0 {
			t.Error("the multipart upload was not aborted")
		}
		checkNoObject(t, f, s, "fault/rec.wav")
	})

	t.Run("AccessDenied/InternalWithDetail", func(t *testing.T) {
		f := s3test.New(t)
		s := mustStore(t, f, Config{})
		f.SetFault(on("PutObject", "", s3test.AccessDenied))
		_, err := s.Put(context.Background(), "fault/rec.wav", strings.NewReader("x"), "audio/wav")
		if err == nil || storage.KindOf(err) != nil {
			t.Fatalf("Put error %v (kind %v), want an internal error", err, storage.KindOf(err))
		}
		if !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("Put error %q does not carry S3's code for the logs", err)
		}
	})
}

func TestReadFaults(t *testing.T) {
	f := s3test.New(t)
	s := mustStoreWith(t, f.Client(300*time.Millisecond), Config{})
	mustPut(t, s, "fault/rec.wav", s3test.Bytes(8, 1000))
	ctx := context.Background()
	ops := map[string]func() error{
		"Stat": func() error { _, err := s.Stat(ctx, "fault/rec.wav"); return err },
		"Open": func() error {
			rc, _, err := s.Open(ctx, "fault/rec.wav", 10, 20)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"Delete": func() error { return s.Delete(ctx, "fault/rec.wav") },
	}
	faults := []struct {
		name string
		f    s3test.Fault
		kind error
	}{
		{"500/ErrUnavailable", s3test.InternalError, storage.ErrUnavailable},
		{"503/ErrUnavailable", s3test.SlowDown, storage.ErrUnavailable},
		{"Hang/ErrUnavailable", s3test.Fault{Hang: true}, storage.ErrUnavailable},
		{"AccessDenied/Internal", s3test.AccessDenied, nil},
	}
	for _, ft := range faults {
		for name, op := range ops {
			t.Run(name+ft.name, func(t *testing.T) {
				f.SetFault(func(*http.Request) s3test.Fault { return ft.f })
				defer f.SetFault(nil)
				err := op()
				if err == nil || storage.KindOf(err) != ft.kind {
					t.Errorf("%s error %v (kind %v), want kind %v", name, err, storage.KindOf(err), ft.kind)
				}
			})
		}
	}
	t.Run("ObjectIntactAfterFaults", func(t *testing.T) {
		if b, _ := mustReadAll(t, s, "fault/rec.wav"); !bytes.Equal(b, s3test.Bytes(8, 1000)) {
			t.Error("object changed")
		}
	})
}
