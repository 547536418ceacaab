package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"testing"

	"switchboard/storage"
	"switchboard/storage/s3/s3test"
)

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// mustPut puts data and fails the test on error.
func mustPut(t *testing.T, s *Store, key string, data []byte) storage.BlobInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), "audio/wav")
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

// mustReadAll opens key whole and returns its bytes and info.
func mustReadAll(t *testing.T, s *Store, key string) ([]byte, storage.BlobInfo) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b, info
}

func TestPutSinglePart(t *testing.T) {
	f := s3test.New(t)
	s := mustStore(t, f, Config{})
	data := s3test.Bytes(1, 1<<20)
	sum := sha256.Sum256(data)
	info := mustPut(t, s, "rec/one.wav", data)

	t.Run("OneRequestCarriesTheDigest", func(t *testing.T) {
		puts := f.Seen("PutObject")
		if len(puts) != 1 {
			t.Fatalf("%d PutObject requests, want 1", len(puts))
		}
		if n := len(f.Seen("CreateMultipartUpload")) + len(f.Seen("CopyObject")); n != 0 {
			t.Errorf("%d multipart or copy requests for an object under one part, want 0", n)
		}
		h := puts[0].Header
		if got, want := h.Get("X-Amz-Checksum-Sha256"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("x-amz-checksum-sha256 = %q, want %q", got, want)
		}
		if got := h.Get("X-Amz-Meta-Sha256"); got != hex.EncodeToString(sum[:]) {
			t.Errorf("x-amz-meta-sha256 = %q, want %x", got, sum)
		}
	})
	t.Run("StatReportsIt", func(t *testing.T) {
		st, err := s.Stat(context.Background(), "rec/one.wav")
		if err != nil {
			t.Fatal(err)
		}
		if st.SHA256 != info.SHA256 || st.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Stat SHA256 = %q, Put said %q, want %x", st.SHA256, info.SHA256, sum)
		}
	})
}

func TestPutMultipart(t *testing.T) {
	f := s3test.New(t)
	s := mustStore(t, f, Config{PartSize: 5 << 20})
	data := s3test.Bytes(2, 12<<20)
	want := hexSHA256(data)

	info := mustPut(t, s, "rec/long.wav", data)
	if info.SHA256 != want || info.Size != int64(len(data)) {
		t.Errorf("Put = %d bytes, SHA-256 %s; want %d, %s", info.Size, info.SHA256, len(data), want)
	}
	t.Run("ThreeParts", func(t *testing.T) {
		if n := len(f.Seen("UploadPart")); n != 3 {
			t.Errorf("%d UploadPart requests for 12 MiB in 5 MiB parts, want 3", n)
		}
		for _, r := range f.Seen("UploadPart") {
			if r.Header.Get("X-Amz-Checksum-Sha256") == "" {
				t.Errorf("part %s sent without its SHA-256 for S3 to verify", r.Query.Get("partNumber"))
			}
		}
	})
	t.Run("RoundTripsWithDigest", func(t *testing.T) {
		b, got := mustReadAll(t, s, "rec/long.wav")
		if !bytes.Equal(b, data) {
			t.Errorf("read %d bytes that differ from the %d put", len(b), len(data))
		}
		if got.SHA256 != want || got.Size != int64(len(data)) || got.ContentType != "audio/wav" {
			t.Errorf("Open info = %+v, want size %d, audio/wav, SHA-256 %s", got, len(data), want)
		}
	})
	t.Run("DigestCopiedOntoTheCompletedObject", func(t *testing.T) {
		copies := f.Seen("CopyObject")
		if len(copies) != 1 {
			t.Fatalf("%d CopyObject requests, want 1", len(copies))
		}
		h := copies[0].Header
		if h.Get("X-Amz-Meta-Sha256") != want || h.Get("X-Amz-Metadata-Directive") != "REPLACE" {
			t.Errorf("copy headers: meta %q, directive %q; want %s, REPLACE", h.Get("X-Amz-Meta-Sha256"), h.Get("X-Amz-Metadata-Directive"), want)
		}
		if h.Get("X-Amz-Copy-Source-If-Match") == "" {
			t.Error("copy is not conditional on the upload's ETag")
		}
	})
}

func TestPutEncryption(t *testing.T) {
	cases := []struct {
		name     string
		cfg      Config
		sse      string
		kmsKeyID string
	}{
		{"DefaultSSES3", Config{}, "AES256", ""},
		{"ConfiguredSSEKMS", Config{KMSKeyID: "arn:aws:kms:eu-west-1:111122223333:key/abcd"}, "aws:kms", "arn:aws:kms:eu-west-1:111122223333:key/abcd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s3test.New(t)
			s := mustStore(t, f, tc.cfg)
			mustPut(t, s, "small.wav", s3test.Bytes(3, 1000))
			mustPut(t, s, "large.wav", s3test.Bytes(4, 6<<20))
			var writes []s3test.Request
			for _, op := range []string{"PutObject", "CreateMultipartUpload", "CopyObject"} {
				got := f.Seen(op)
				if len(got) != 1 {
					t.Fatalf("%d %s requests, want 1", len(got), op)
				}
				writes = append(writes, got...)
			}
			for _, r := range writes {
				if got := r.Header.Get("X-Amz-Server-Side-Encryption"); got != tc.sse {
					t.Errorf("%s: x-amz-server-side-encryption = %q, want %q", r.Op, got, tc.sse)
				}
				if got := r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); got != tc.kmsKeyID {
					t.Errorf("%s: KMS key id = %q, want %q", r.Op, got, tc.kmsKeyID)
				}
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	f := s3test.New(t)
	s := mustStore(t, f, Config{Prefix: "prod/"})
	key := "recordings/AC1/2026/11/30/CA1/RE1.wav"
	data := s3test.Bytes(5, 100)
	mustPut(t, s, key, data)

	t.Run("ObjectUnderPrefix", func(t *testing.T) {
		if !f.Exists(t, "prod/"+key) {
			t.Errorf("no object at %q", "prod/"+key)
		}
		if f.Exists(t, key) {
			t.Errorf("object stored at the unprefixed key %q", key)
		}
	})
	t.Run("ReadsThroughPrefix", func(t *testing.T) {
		if b, _ := mustReadAll(t, s, key); !bytes.Equal(b, data) {
			t.Errorf("read %q, want %q", b, data)
		}
	})
	t.Run("DeleteThroughPrefix", func(t *testing.T) {
		if err := s.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		if f.Exists(t, "prod/"+key) {
			t.Error("object still exists after Delete")
		}
	})
}

func TestPutContentTypeFromExtension(t *testing.T) {
	s := mustStore(t, s3test.New(t), Config{})
	for key, want := range map[string]string{"a.wav": "audio/wav", "b.mp3": "audio/mpeg", "c.bin": "application/octet-stream"} {
		info, err := s.Put(context.Background(), key, bytes.NewReader([]byte("x")), "")
		if err != nil {
			t.Fatal(err)
		}
		if info.ContentType != want {
			t.Errorf("Put(%q) ContentType = %q, want %q", key, info.ContentType, want)
		}
	}
}
