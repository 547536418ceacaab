package s3

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/s3/s3test"
)

// fakeClock is a settable clock for Ping's cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustPingStore(t *testing.T, f *s3test.Server) (*Store, *fakeClock) {
	t.Helper()
	s := mustStoreWith(t, f.Client(time.Second), Config{PingTTL: 5 * time.Second})
	clock := &fakeClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	s.now = clock.now
	return s, clock
}

func TestPing(t *testing.T) {
	ctx := context.Background()

	t.Run("OKAndCached", func(t *testing.T) {
		f := s3test.New(t)
		s, clock := mustPingStore(t, f)
		for i := range 3 {
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping #%d: %v", i+1, err)
			}
		}
		if n := len(f.Seen("HeadBucket")); n != 1 {
			t.Errorf("%d HeadBucket requests for 3 pings within the cache interval, want 1", n)
		}
		clock.advance(5 * time.Second)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(f.Seen("HeadBucket")); n != 2 {
			t.Errorf("%d HeadBucket requests after the interval passed, want 2", n)
		}
	})

	t.Run("ServerError/ErrUnavailableCached", func(t *testing.T) {
		f := s3test.New(t)
		s, clock := mustPingStore(t, f)
		f.SetFault(on("HeadBucket", "", s3test.SlowDown))
		checkKind(t, "Ping", s.Ping(ctx), storage.ErrUnavailable)
		f.SetFault(nil)
		checkKind(t, "Ping within the interval", s.Ping(ctx), storage.ErrUnavailable)
		clock.advance(5 * time.Second)
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping once S3 recovered and the interval passed: %v", err)
		}
	})

	t.Run("Unreachable/ErrUnavailable", func(t *testing.T) {
		f := s3test.New(t)
		s, _ := mustPingStore(t, f)
		f.Close()
		checkKind(t, "Ping", s.Ping(ctx), storage.ErrUnavailable)
	})

	t.Run("Hangs/ErrUnavailable", func(t *testing.T) {
		f := s3test.New(t)
		s, _ := mustPingStore(t, f)
		f.SetFault(func(*http.Request) s3test.Fault { return s3test.Fault{Hang: true} })
		checkKind(t, "Ping", s.Ping(ctx), storage.ErrUnavailable)
	})

	t.Run("MissingBucket/ErrUnavailable", func(t *testing.T) {
		f := s3test.New(t)
		s := mustStoreWith(t, f.Client(time.Second), Config{Bucket: "no-such-bucket"})
		checkKind(t, "Ping", s.Ping(ctx), storage.ErrUnavailable)
	})

	t.Run("CallerCancelled/NotCached", func(t *testing.T) {
		f := s3test.New(t)
		s, _ := mustPingStore(t, f)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		checkKind(t, "Ping with a cancelled context", s.Ping(cctx), storage.ErrUnavailable)
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping after a cancelled one: %v (the caller's cancellation was cached)", err)
		}
	})
}
