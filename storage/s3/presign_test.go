package s3

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/s3/s3test"
)

func TestPresignGet(t *testing.T) {
	f := s3test.New(t)
	s := mustStore(t, f, Config{Prefix: "p/", URLTTL: 90 * time.Second})
	data := s3test.Bytes(9, 70_000)
	mustPut(t, s, "rec/a.wav", data)
	ctx := context.Background()

	t.Run("FetchesTheBytes", func(t *testing.T) {
		link, err := s.PresignGet(ctx, "rec/a.wav", 0)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, data) {
			t.Errorf("GET presigned link: status %d, %d bytes; want 200 and the %d bytes put", resp.StatusCode, len(b), len(data))
		}
		if u, _ := url.Parse(link); !strings.HasSuffix(u.Path, "/p/rec/a.wav") {
			t.Errorf("link path %q does not name the prefixed object", u.Path)
		}
	})

	expires := func(t *testing.T, ttl time.Duration) string {
		t.Helper()
		link, err := s.PresignGet(ctx, "rec/a.wav", ttl)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Get("X-Amz-Signature") == "" {
			t.Errorf("link %q is not signed", link)
		}
		return u.Query().Get("X-Amz-Expires")
	}
	t.Run("ConfiguredTTLByDefault", func(t *testing.T) {
		if got := expires(t, 0); got != "90" {
			t.Errorf("X-Amz-Expires = %q, want the configured 90", got)
		}
	})
	t.Run("ExplicitTTL", func(t *testing.T) {
		if got := expires(t, 10*time.Minute); got != "600" {
			t.Errorf("X-Amz-Expires = %q, want 600", got)
		}
	})
	t.Run("TTLTooLong/ErrInvalid", func(t *testing.T) {
		_, err := s.PresignGet(ctx, "rec/a.wav", 13*time.Hour)
		checkKind(t, "PresignGet", err, storage.ErrInvalid)
	})
	t.Run("BadKey/ErrInvalid", func(t *testing.T) {
		_, err := s.PresignGet(ctx, "../a.wav", 0)
		checkKind(t, "PresignGet", err, storage.ErrInvalid)
	})
}
