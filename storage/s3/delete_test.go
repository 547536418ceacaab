package s3

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"switchboard/storage/s3/s3test"
)

// TestDeleteErasesEveryVersion: on a versioned bucket a plain DeleteObject
// only hides the audio behind a delete marker, and anyone with
// s3:GetObjectVersion can still play it. Delete must leave no version and
// no marker of the key, and touch no other key, however many versions
// there are and however many listings that takes.
func TestDeleteErasesEveryVersion(t *testing.T) {
	const key = "recordings/AC1/2026/11/30/CA1/RE1.wav"
	others := []string{"recordings/AC1/2026/11/30/CA1/RE1.wav.bak", "recordings/AC1/2026/11/30/CA1/RE2.wav"}
	cases := []struct {
		name   string
		prefix string
		page   int32
	}{
		{"OneListing", "", 1000},
		{"OneVersionPerListing", "", 1},
		{"Prefix/TwoVersionsPerListing", "env/test-", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s3test.NewVersioned(t)
			s := mustStore(t, f, Config{Prefix: tc.prefix})
			s.versionPage = tc.page
			ctx := context.Background()
			put := func(k, body string) {
				t.Helper()
				if _, err := s.Put(ctx, k, strings.NewReader(body), "audio/wav"); err != nil {
					t.Fatalf("Put(%q): %v", k, err)
				}
			}
			// Three uploads (a retried archive, say), a delete marker from an
			// earlier plain delete, and a fourth upload over it.
			for _, body := range []string{"one", "two", "three"} {
				put(key, body)
			}
			if _, err := f.Client(0).DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(tc.prefix + key)}); err != nil {
				t.Fatal(err)
			}
			put(key, "four")
			for _, k := range others {
				put(k, "keep "+k)
				put(k, "keep "+k)
			}
			if vs := f.Versions(t, tc.prefix+key); len(vs) != 5 {
				t.Fatalf("before Delete the key has %v, want 4 versions and a marker", vs)
			}

			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if vs := f.Versions(t, tc.prefix+key); len(vs) != 0 {
				t.Errorf("after Delete the bucket still holds %v of %s", vs, key)
			}
			for _, k := range others {
				if vs := f.Versions(t, tc.prefix+k); len(vs) != 2 {
					t.Errorf("Delete of %s left %v of %s, want its 2 versions", key, vs, k)
				}
				rc, _, err := s.Open(ctx, k, 0, -1)
				if err != nil {
					t.Fatalf("Open(%q) after deleting another key: %v", k, err)
				}
				var b bytes.Buffer
				_, _ = b.ReadFrom(rc)
				rc.Close()
				if b.String() != "keep "+k {
					t.Errorf("Open(%q) = %q after deleting another key", k, b.String())
				}
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("second Delete: %v", err)
			}
			if vs := f.Versions(t, tc.prefix+key); len(vs) != 0 {
				t.Errorf("a second Delete left %v", vs)
			}
		})
	}

	t.Run("Unversioned/NoVersionRequests", func(t *testing.T) {
		f := s3test.New(t)
		s := mustStore(t, f, Config{})
		if _, err := s.Put(context.Background(), key, strings.NewReader("x"), "audio/wav"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(context.Background(), key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if f.Exists(t, key) {
			t.Errorf("object %s still in S3", key)
		}
		// One DeleteObject, one listing that finds nothing left.
		if n, m := len(f.Seen("DeleteObject")), len(f.Seen("ListObjectVersions")); n != 1 || m != 1 {
			t.Errorf("Delete on an unversioned bucket sent %d DeleteObject and %d ListObjectVersions, want 1 and 1", n, m)
		}
		if n := len(f.Seen("DeleteObjects")); n != 0 {
			t.Errorf("Delete on an unversioned bucket sent %d DeleteObjects, want none", n)
		}
	})
}
