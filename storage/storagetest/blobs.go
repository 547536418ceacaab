package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/storage"
)

// TestBlobStore runs the storage.BlobStore contract against the stores that
// newStore makes. newStore must return a new, empty store on every call and
// release it with t.Cleanup; every subtest gets its own. A store that is also
// a storage.Pinger must answer Ping.
func TestBlobStore(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("RoundTrip", func(t *testing.T) { testBlobRoundTrip(t, newStore) })
	t.Run("Range", func(t *testing.T) { testBlobRange(t, newStore) })
	t.Run("Overwrite", func(t *testing.T) { testBlobOverwrite(t, newStore) })
	t.Run("Missing", func(t *testing.T) { testBlobMissing(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testBlobDelete(t, newStore) })
	t.Run("BadKey", func(t *testing.T) { testBlobBadKeys(t, newStore) })
	t.Run("FailedPut", func(t *testing.T) { testBlobFailedPut(t, newStore) })
	t.Run("Visibility", func(t *testing.T) { testBlobVisibility(t, newStore) })
	t.Run("ConcurrentPut", func(t *testing.T) { testBlobConcurrentPut(t, newStore) })
	t.Run("Large", func(t *testing.T) { testBlobLarge(t, newStore) })
	t.Run("Ping", func(t *testing.T) { testBlobPing(t, newStore) })
}

func testBlobRoundTrip(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		s := newStore(t)
		key := storage.RecordingKey("AC"+strings.Repeat("a", 32), "CA"+strings.Repeat("b", 32),
			"RE"+strings.Repeat("c", 32), time.Date(2026, 2, 12, 23, 59, 0, 0, time.UTC), "wav")
		data := genBytes(1, 100_003)
		want := storage.BlobInfo{Size: int64(len(data)), ContentType: "audio/wav", SHA256: sha256Hex(data)}

		got := mustPutBlob(t, s, key, data, "audio/wav")
		checkBlobInfo(t, "Put", got, want)

		b, info := mustReadBlob(t, s, key, 0, -1)
		if !bytes.Equal(b, data) {
			t.Errorf("Open read %d bytes that differ from the %d put", len(b), len(data))
		}
		checkBlobInfo(t, "Open", info, want)
		checkModTime(t, "Open", info)

		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		checkBlobInfo(t, "Stat", info, want)
		checkModTime(t, "Stat", info)
	})

	t.Run("EmptyObject", func(t *testing.T) {
		s := newStore(t)
		want := storage.BlobInfo{Size: 0, ContentType: "audio/mpeg", SHA256: sha256Hex(nil)}
		checkBlobInfo(t, "Put", mustPutBlob(t, s, "empty.mp3", nil, "audio/mpeg"), want)
		b, info := mustReadBlob(t, s, "empty.mp3", 0, -1)
		if len(b) != 0 {
			t.Errorf("Open read %d bytes, want 0", len(b))
		}
		checkBlobInfo(t, "Open", info, want)
	})

	t.Run("LongestKey", func(t *testing.T) {
		s := newStore(t)
		// Segments stay short enough for any filesystem's name limit.
		key := strings.Repeat(strings.Repeat("k", 99)+"/", 5) + strings.Repeat("z", storage.MaxKeyLen-500)
		if len(key) != storage.MaxKeyLen {
			t.Fatalf("test key is %d bytes, want %d", len(key), storage.MaxKeyLen)
		}
		data := genBytes(2, 10)
		mustPutBlob(t, s, key, data, "application/octet-stream")
		if b, _ := mustReadBlob(t, s, key, 0, -1); !bytes.Equal(b, data) {
			t.Errorf("Open read %q, want %q", b, data)
		}
	})

	t.Run("SimilarKeysAreDistinct", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"rec/1.wav", "rec/1.mp3", "rec1.wav", "rec/1.wav.part", "Rec/1.wav"}
		for i, k := range keys {
			mustPutBlob(t, s, k, genBytes(uint64(10+i), 100+i), "application/octet-stream")
		}
		for i, k := range keys {
			if b, _ := mustReadBlob(t, s, k, 0, -1); !bytes.Equal(b, genBytes(uint64(10+i), 100+i)) {
				t.Errorf("Open(%q) read another key's content", k)
			}
		}
	})
}

func testBlobRange(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	s := newStore(t)
	const key = "ranges/object.bin"
	data := genBytes(3, 10_000)
	size := int64(len(data))
	mustPutBlob(t, s, key, data, "application/octet-stream")

	ok := []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"OffsetAndLength", 1234, 4321, data[1234 : 1234+4321]},
		{"WholeObject", 0, -1, data},
		{"ToEndWithNegativeLength", 9000, -1, data[9000:]},
		{"LastByte", size - 1, 1, data[size-1:]},
		{"ZeroLength", 10, 0, nil},
		{"LengthPastEndIsTruncated", 9990, 500, data[9990:]},
		{"OffsetAtEndIsEmpty", size, -1, nil},
		{"OffsetAtEndWithLengthIsEmpty", size, 10, nil},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			b, info := mustReadBlob(t, s, key, tc.offset, tc.length)
			if !bytes.Equal(b, tc.want) {
				t.Errorf("Open(%d, %d) read %d bytes that differ from the %d wanted", tc.offset, tc.length, len(b), len(tc.want))
			}
			if info.Size != size {
				t.Errorf("Open(%d, %d) info.Size = %d, want the whole object's %d", tc.offset, tc.length, info.Size, size)
			}
			if info.SHA256 != sha256Hex(data) {
				t.Errorf("Open(%d, %d) info.SHA256 = %q, want the whole object's %q", tc.offset, tc.length, info.SHA256, sha256Hex(data))
			}
		})
	}

	bad := []struct {
		name           string
		offset, length int64
	}{
		{"OffsetPastEndIsErrInvalid", size + 1, -1},
		{"FarOffsetIsErrInvalid", size * 10, 5},
		{"NegativeOffsetIsErrInvalid", -1, 5},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, err := s.Open(context.Background(), key, tc.offset, tc.length)
			if err == nil {
				rc.Close()
			}
			checkKind(t, "Open", err, storage.ErrInvalid)
		})
	}
}

func testBlobOverwrite(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("ReplacesContentAndInfo", func(t *testing.T) {
		s := newStore(t)
		const key = "over/write.wav"
		mustPutBlob(t, s, key, genBytes(4, 5000), "audio/wav")
		v2 := genBytes(5, 3000)
		want := storage.BlobInfo{Size: int64(len(v2)), ContentType: "audio/mpeg", SHA256: sha256Hex(v2)}
		checkBlobInfo(t, "second Put", mustPutBlob(t, s, key, v2, "audio/mpeg"), want)

		b, info := mustReadBlob(t, s, key, 0, -1)
		if !bytes.Equal(b, v2) {
			t.Errorf("Open read %d bytes, not the second Put's %d", len(b), len(v2))
		}
		checkBlobInfo(t, "Open", info, want)
		info, err := s.Stat(context.Background(), key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		checkBlobInfo(t, "Stat", info, want)
	})
}

func testBlobMissing(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	ctx := context.Background()
	s := newStore(t)
	mustPutBlob(t, s, "present/a.wav", []byte("a"), "audio/wav")

	for _, key := range []string{"absent.wav", "present/b.wav", "present", "present/a.wav/more"} {
		t.Run("ErrNotFound/"+key, func(t *testing.T) {
			rc, _, err := s.Open(ctx, key, 0, -1)
			if err == nil {
				rc.Close()
			}
			checkKind(t, "Open", err, storage.ErrNotFound)
			_, err = s.Stat(ctx, key)
			checkKind(t, "Stat", err, storage.ErrNotFound)
		})
	}
}

func testBlobDelete(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	ctx := context.Background()

	t.Run("ThenErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustPutBlob(t, s, "del/a.wav", []byte("gone soon"), "audio/wav")
		if err := s.Delete(ctx, "del/a.wav"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		rc, _, err := s.Open(ctx, "del/a.wav", 0, -1)
		if err == nil {
			rc.Close()
		}
		checkKind(t, "Open after Delete", err, storage.ErrNotFound)
		_, err = s.Stat(ctx, "del/a.wav")
		checkKind(t, "Stat after Delete", err, storage.ErrNotFound)
	})

	t.Run("OverwrittenThenErrNotFound", func(t *testing.T) {
		s := newStore(t)
		for _, v := range []string{"first", "second", "third"} {
			mustPutBlob(t, s, "del/a.wav", []byte(v), "audio/wav")
		}
		if err := s.Delete(ctx, "del/a.wav"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		rc, _, err := s.Open(ctx, "del/a.wav", 0, -1)
		if err == nil {
			rc.Close()
		}
		checkKind(t, "Open after Delete", err, storage.ErrNotFound)
		_, err = s.Stat(ctx, "del/a.wav")
		checkKind(t, "Stat after Delete", err, storage.ErrNotFound)
	})

	t.Run("IdempotentOK", func(t *testing.T) {
		s := newStore(t)
		mustPutBlob(t, s, "del/a.wav", []byte("x"), "audio/wav")
		for i := range 2 {
			if err := s.Delete(ctx, "del/a.wav"); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if err := s.Delete(ctx, "never/put.wav"); err != nil {
			t.Errorf("Delete of a key never put: %v", err)
		}
	})

	t.Run("LeavesOtherKeys", func(t *testing.T) {
		s := newStore(t)
		mustPutBlob(t, s, "del/a.wav", []byte("a"), "audio/wav")
		mustPutBlob(t, s, "del/b.wav", []byte("b"), "audio/wav")
		mustPutBlob(t, s, "del/a.wav.bak", []byte("c"), "audio/wav")
		if err := s.Delete(ctx, "del/a.wav"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		for key, want := range map[string]string{"del/b.wav": "b", "del/a.wav.bak": "c"} {
			if b, _ := mustReadBlob(t, s, key, 0, -1); string(b) != want {
				t.Errorf("Open(%q) after deleting another key = %q, want %q", key, b, want)
			}
		}
	})

	t.Run("ThenPutAgainOK", func(t *testing.T) {
		s := newStore(t)
		mustPutBlob(t, s, "del/a.wav", []byte("one"), "audio/wav")
		if err := s.Delete(ctx, "del/a.wav"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		mustPutBlob(t, s, "del/a.wav", []byte("two"), "audio/wav")
		if b, _ := mustReadBlob(t, s, "del/a.wav", 0, -1); string(b) != "two" {
			t.Errorf("Open after Delete and Put = %q, want %q", b, "two")
		}
	})
}

func testBlobBadKeys(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	ctx := context.Background()
	s := newStore(t)
	bad := []struct{ name, key string }{
		{"ParentSegment", "../x"},
		{"EscapingParentSegments", "a/../../x"},
		{"InnerParentSegment", "a/../x"},
		{"Absolute", "/abs"},
		{"EmptySegment", "a//b"},
		{"TrailingSlash", "a/"},
		{"DotSegment", "a/./b"},
		{"Dot", "."},
		{"Backslash", `a\b`},
		{"BackslashParent", `..\x`},
		{"NULByte", "a\x00b"},
		{"NonASCII", "caf\u00e9.wav"},
		{"Space", "a b"},
		{"TooLong", strings.Repeat("a", storage.MaxKeyLen+1)},
		{"Empty", ""},
	}
	for _, tc := range bad {
		t.Run("ErrInvalid/"+tc.name, func(t *testing.T) {
			_, err := s.Put(ctx, tc.key, strings.NewReader("must not be stored"), "text/plain")
			checkKind(t, "Put", err, storage.ErrInvalid)
			rc, _, err := s.Open(ctx, tc.key, 0, -1)
			if err == nil {
				rc.Close()
			}
			checkKind(t, "Open", err, storage.ErrInvalid)
			_, err = s.Stat(ctx, tc.key)
			checkKind(t, "Stat", err, storage.ErrInvalid)
			checkKind(t, "Delete", s.Delete(ctx, tc.key), storage.ErrInvalid)
		})
	}

	t.Run("NothingWritten", func(t *testing.T) {
		// Where a careless store might have put those objects.
		for _, key := range []string{"x", "abs", "a", "b", "a/b", "a/x", "ab", "caf.wav", "a_b"} {
			_, err := s.Stat(ctx, key)
			checkKind(t, "Stat("+key+")", err, storage.ErrNotFound)
		}
	})
}

func testBlobFailedPut(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	ctx := context.Background()
	errReader := errors.New("source broke")
	const size = 3 << 20

	failing := func() io.Reader {
		return &failingReader{r: genReader(6, size), left: size / 2, err: errReader}
	}
	cancelling := func(ctx context.Context) (context.Context, io.Reader) {
		ctx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		return ctx, &cancellingReader{r: genReader(7, size), after: 1 << 20, cancel: cancel}
	}
	cancelled := func() context.Context {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		return ctx
	}

	cases := []struct {
		name string
		put  func(s storage.BlobStore, key string) error
	}{
		{"ReaderError", func(s storage.BlobStore, key string) error {
			_, err := s.Put(ctx, key, failing(), "audio/wav")
			if err == nil {
				return errors.New("the reader failed, yet Put succeeded")
			}
			return nil
		}},
		{"ContextCancelledMidway", func(s storage.BlobStore, key string) error {
			ctx, r := cancelling(ctx)
			_, err := s.Put(ctx, key, r, "audio/wav")
			if !errors.Is(err, context.Canceled) {
				return errors.New("Put whose context was cancelled returned " + errString(err) + ", want an error wrapping context.Canceled")
			}
			return nil
		}},
		{"ContextCancelledBefore", func(s storage.BlobStore, key string) error {
			_, err := s.Put(cancelled(), key, genReader(8, 1000), "audio/wav")
			if !errors.Is(err, context.Canceled) {
				return errors.New("Put with a cancelled context returned " + errString(err) + ", want an error wrapping context.Canceled")
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/LeavesNoObject", func(t *testing.T) {
			s := newStore(t)
			if err := tc.put(s, "failed/new.wav"); err != nil {
				t.Fatal(err)
			}
			_, err := s.Stat(ctx, "failed/new.wav")
			checkKind(t, "Stat after a failed Put", err, storage.ErrNotFound)
			rc, _, err := s.Open(ctx, "failed/new.wav", 0, -1)
			if err == nil {
				rc.Close()
			}
			checkKind(t, "Open after a failed Put", err, storage.ErrNotFound)
		})
		t.Run(tc.name+"/KeepsPrevious", func(t *testing.T) {
			s := newStore(t)
			prev := genBytes(9, 4321)
			want := storage.BlobInfo{Size: int64(len(prev)), ContentType: "audio/mpeg", SHA256: sha256Hex(prev)}
			mustPutBlob(t, s, "failed/old.mp3", prev, "audio/mpeg")
			if err := tc.put(s, "failed/old.mp3"); err != nil {
				t.Fatal(err)
			}
			b, info := mustReadBlob(t, s, "failed/old.mp3", 0, -1)
			if !bytes.Equal(b, prev) {
				t.Errorf("Open after a failed Put read %d bytes, not the previous object's %d", len(b), len(prev))
			}
			checkBlobInfo(t, "Open after a failed Put", info, want)
		})
	}
}

func testBlobVisibility(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("NotVisibleUntilComplete", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		const key = "slow/upload.wav"
		data := genBytes(10, 300_000)
		r := &pausingReader{r: bytes.NewReader(data), after: 100_000, reached: make(chan struct{}), release: make(chan struct{})}
		var once sync.Once
		release := func() { once.Do(func() { close(r.release) }) }
		t.Cleanup(release)

		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, key, r, "audio/wav")
			done <- err
		}()
		select {
		case <-r.reached:
		case err := <-done:
			t.Fatalf("Put returned %v before reading the whole reader", err)
		case <-time.After(time.Minute):
			t.Fatal("Put did not read the first 100000 bytes within a minute")
		}
		_, err := s.Stat(ctx, key)
		checkKind(t, "Stat during Put", err, storage.ErrNotFound)
		rc, _, err := s.Open(ctx, key, 0, -1)
		if err == nil {
			rc.Close()
		}
		checkKind(t, "Open during Put", err, storage.ErrNotFound)

		release()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Put did not finish within a minute of its reader ending")
		}
		if b, _ := mustReadBlob(t, s, key, 0, -1); !bytes.Equal(b, data) {
			t.Errorf("Open after Put read %d bytes that differ from the %d put", len(b), len(data))
		}
	})
}

func testBlobConcurrentPut(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("LeavesOneWholeVersion", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		const key = "race/one.wav"
		const writers = 8
		shas := make(map[string]int64, writers)
		for i := range writers {
			data := genBytes(uint64(100+i), 200_000+4099*i)
			shas[sha256Hex(data)] = int64(len(data))
		}

		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				_, errs[i] = s.Put(ctx, key, bytes.NewReader(genBytes(uint64(100+i), 200_000+4099*i)), "audio/wav")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Put #%d: %v", i, err)
			}
		}

		b, info := mustReadBlob(t, s, key, 0, -1)
		got := sha256Hex(b)
		size, ok := shas[got]
		if !ok {
			t.Fatalf("Open read %d bytes matching none of the %d versions put", len(b), writers)
		}
		want := storage.BlobInfo{Size: size, ContentType: "audio/wav", SHA256: got}
		checkBlobInfo(t, "Open", info, want)
		st, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		checkBlobInfo(t, "Stat", st, want)
	})
}

func testBlobLarge(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("StreamsWithChecksum", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		const key = "large/call.wav"
		const size = 24 << 20
		const seed = 11

		h := sha256.New()
		if _, err := io.Copy(h, genReader(seed, size)); err != nil {
			t.Fatal(err)
		}
		wantSHA := hex.EncodeToString(h.Sum(nil))
		want := storage.BlobInfo{Size: size, ContentType: "audio/wav", SHA256: wantSHA}

		info, err := s.Put(ctx, key, genReader(seed, size), "audio/wav")
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		checkBlobInfo(t, "Put", info, want)

		rc, info, err := s.Open(ctx, key, 0, -1)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		h.Reset()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("reading the object: %v", err)
		}
		if n != size || hex.EncodeToString(h.Sum(nil)) != wantSHA {
			t.Errorf("Open read %d bytes with SHA-256 %x, want %d bytes with %s", n, h.Sum(nil), int64(size), wantSHA)
		}
		checkBlobInfo(t, "Open", info, want)

		// A range deep inside, not aligned to anything.
		const offset, length = 13<<20 + 7, 1<<20 + 3
		gen := genReader(seed, size)
		if _, err := io.CopyN(io.Discard, gen, offset); err != nil {
			t.Fatal(err)
		}
		wantRange := make([]byte, length)
		if _, err := io.ReadFull(gen, wantRange); err != nil {
			t.Fatal(err)
		}
		b, info := mustReadBlob(t, s, key, offset, length)
		if !bytes.Equal(b, wantRange) {
			t.Errorf("Open(%d, %d) read %d bytes that differ from the object's", offset, length, len(b))
		}
		if info.Size != size {
			t.Errorf("Open(%d, %d) info.Size = %d, want %d", offset, length, info.Size, int64(size))
		}
	})
}

func testBlobPing(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	s := newStore(t)
	p, ok := s.(storage.Pinger)
	if !ok {
		// Nothing to check: the store has no Ping.
		return
	}
	t.Run("OK", func(t *testing.T) {
		if err := p.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

// mustPutBlob puts data under key and fails the test on error.
func mustPutBlob(t *testing.T, s storage.BlobStore, key string, data []byte, contentType string) storage.BlobInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), contentType)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

// mustReadBlob opens a range of key, reads it all and closes it.
func mustReadBlob(t *testing.T, s storage.BlobStore, key string, offset, length int64) ([]byte, storage.BlobInfo) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("Open(%q, %d, %d): %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading Open(%q, %d, %d): %v", key, offset, length, err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("closing Open(%q, %d, %d): %v", key, offset, length, err)
	}
	return b, info
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkBlobInfo compares the fields a store must report exactly; ModTime
// is the store's own.
func checkBlobInfo(t *testing.T, op string, got, want storage.BlobInfo) {
	t.Helper()
	if got.Size != want.Size {
		t.Errorf("%s: Size = %d, want %d", op, got.Size, want.Size)
	}
	if got.ContentType != want.ContentType {
		t.Errorf("%s: ContentType = %q, want %q", op, got.ContentType, want.ContentType)
	}
	if !sha256Pattern.MatchString(got.SHA256) {
		t.Errorf("%s: SHA256 = %q, want 64 lowercase hex digits", op, got.SHA256)
	} else if got.SHA256 != want.SHA256 {
		t.Errorf("%s: SHA256 = %s, want %s", op, got.SHA256, want.SHA256)
	}
}

func checkModTime(t *testing.T, op string, info storage.BlobInfo) {
	t.Helper()
	if info.ModTime.IsZero() {
		t.Errorf("%s: ModTime is zero", op)
	}
}

// checkKind fails the test unless err wraps kind.
func checkKind(t *testing.T, op string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %s, want one wrapping %q", op, errString(err), kind)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return "\"" + err.Error() + "\""
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// genReader returns n deterministic pseudo-random bytes for seed, generated
// as they are read so a large object is never held in memory.
func genReader(seed uint64, n int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func genBytes(seed uint64, n int) []byte {
	b, err := io.ReadAll(genReader(seed, int64(n)))
	if err != nil {
		panic(err) // ChaCha8 never fails
	}
	return b
}

// failingReader reads left bytes of r, then fails with err.
type failingReader struct {
	r    io.Reader
	left int64
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

// cancellingReader cancels its Put's context once after bytes have been
// read, then keeps supplying data as a source unaware of the context would.
type cancellingReader struct {
	r      io.Reader
	after  int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

// pausingReader closes reached once after bytes have been read and then
// blocks until release is closed, holding its Put in the middle.
type pausingReader struct {
	r       io.Reader
	after   int
	read    int
	paused  bool
	reached chan struct{}
	release chan struct{}
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.read >= p.after {
		if !p.paused {
			p.paused = true
			close(p.reached)
		}
		<-p.release
	} else if len(b) > p.after-p.read {
		b = b[:p.after-p.read]
	}
	n, err := p.r.Read(b)
	p.read += n
	return n, err
}
