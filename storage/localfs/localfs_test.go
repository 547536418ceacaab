package localfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/storagetest"
)

func TestStoreContract(t *testing.T) {
	storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
		s, _ := mustNew(t)
		return s
	})
}

// mustNew opens a store in a new directory and returns it with the directory.
func mustNew(t *testing.T) (*localfs.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	return mustOpen(t, dir), dir
}

// mustOpen opens a store in dir and closes it when the test ends.
func mustOpen(t *testing.T, dir string) *localfs.Store {
	t.Helper()
	s, err := localfs.New(dir)
	if err != nil {
		t.Fatalf("New(%q): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t *testing.T, s *localfs.Store, key, content string) storage.BlobInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, strings.NewReader(content), "")
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func mustRead(t *testing.T, s *localfs.Store, key string) string {
	t.Helper()
	rc, _, err := s.Open(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return string(b)
}

// tempEntries lists what is left in the store's temporary tree.
func tempEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestNew(t *testing.T) {
	t.Run("EmptyDirIsErrInvalid", func(t *testing.T) {
		if _, err := localfs.New(""); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("New(\"\") = %v, want ErrInvalid", err)
		}
	})
	t.Run("FileIsError", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := localfs.New(file)
		if err == nil {
			s.Close()
			t.Error("New on a regular file succeeded")
		}
	})
	t.Run("ReopenKeepsObjects", func(t *testing.T) {
		s, dir := mustNew(t)
		want := mustPut(t, s, "keep/me.wav", "kept")
		s2 := mustOpen(t, dir)
		got, err := s2.Stat(context.Background(), "keep/me.wav")
		if err != nil {
			t.Fatalf("Stat after reopening: %v", err)
		}
		if got != want {
			t.Errorf("Stat after reopening = %+v, want %+v", got, want)
		}
	})
}

func TestLayout(t *testing.T) {
	t.Run("ObjectIsPlainFileWithPrivateModes", func(t *testing.T) {
		s, dir := mustNew(t)
		mustPut(t, s, "recordings/a/b.wav", "RIFF....WAVE")
		path := filepath.Join(dir, "objects", "recordings", "a", "b.wav")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "RIFF....WAVE" {
			t.Errorf("object file holds %q, want the bytes put", b)
		}
		for _, p := range []string{path, filepath.Join(dir, "meta", "recordings", "a", "b.wav")} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
				t.Errorf("%s has mode %v, want at most 0640", p, perm)
			}
		}
		for _, p := range []string{dir, filepath.Join(dir, "objects", "recordings"), filepath.Join(dir, "meta", "recordings", "a"), filepath.Join(dir, "tmp")} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&^0o750 != 0 {
				t.Errorf("%s has mode %v, want at most 0750", p, perm)
			}
		}
	})

	t.Run("EmptyContentTypeFromExtension", func(t *testing.T) {
		s, _ := mustNew(t)
		for key, want := range map[string]string{"a.wav": "audio/wav", "b.MP3": "audio/mpeg", "c.bin": "application/octet-stream", "d": "application/octet-stream"} {
			if got := mustPut(t, s, key, "x").ContentType; got != want {
				t.Errorf("Put(%q) with no content type: ContentType = %q, want %q", key, got, want)
			}
		}
	})

	t.Run("OverlongSegmentIsErrInvalid", func(t *testing.T) {
		s, _ := mustNew(t)
		_, err := s.Put(context.Background(), "a/"+strings.Repeat("s", 256), strings.NewReader("x"), "")
		if !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("Put with a 256-byte segment = %v, want ErrInvalid", err)
		}
	})
}

func TestKeyPathClash(t *testing.T) {
	ctx := context.Background()

	t.Run("KeyUnderObjectIsErrConflict", func(t *testing.T) {
		s, _ := mustNew(t)
		mustPut(t, s, "a", "object a")
		_, err := s.Put(ctx, "a/b", strings.NewReader("x"), "")
		if !errors.Is(err, storage.ErrConflict) {
			t.Errorf("Put(a/b) over object a = %v, want ErrConflict", err)
		}
		if got := mustRead(t, s, "a"); got != "object a" {
			t.Errorf("object a now holds %q", got)
		}
		_, err = s.Stat(ctx, "a/b")
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(a/b) = %v, want ErrNotFound", err)
		}
	})

	t.Run("ObjectOverKeysIsErrConflict", func(t *testing.T) {
		s, dir := mustNew(t)
		mustPut(t, s, "c/d", "object c/d")
		_, err := s.Put(ctx, "c", strings.NewReader("x"), "")
		if !errors.Is(err, storage.ErrConflict) {
			t.Errorf("Put(c) over c/d = %v, want ErrConflict", err)
		}
		if err := s.Delete(ctx, "c"); err != nil {
			t.Errorf("Delete(c) = %v, want nil for a key that names no object", err)
		}
		if got := mustRead(t, s, "c/d"); got != "object c/d" {
			t.Errorf("object c/d now holds %q", got)
		}
		if left := tempEntries(t, dir); len(left) != 0 {
			t.Errorf("temporary files left after a refused Put: %v", left)
		}
	})
}

func TestTempFiles(t *testing.T) {
	ctx := context.Background()

	t.Run("FailedPutLeavesNone", func(t *testing.T) {
		s, dir := mustNew(t)
		r := io.MultiReader(strings.NewReader(strings.Repeat("x", 1<<20)), errReader{})
		if _, err := s.Put(ctx, "fail.wav", r, ""); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cancelled, "fail.wav", strings.NewReader("x"), ""); err == nil {
			t.Fatal("Put with a cancelled context succeeded")
		}
		if left := tempEntries(t, dir); len(left) != 0 {
			t.Errorf("temporary files left after failed Puts: %v", left)
		}
	})

	t.Run("SuccessfulPutLeavesNone", func(t *testing.T) {
		s, dir := mustNew(t)
		mustPut(t, s, "ok.wav", "fine")
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if left := tempEntries(t, dir); len(left) != 0 {
			t.Errorf("temporary files left after a Put and a Ping: %v", left)
		}
	})

	t.Run("LeftoversAreNotObjects", func(t *testing.T) {
		s, dir := mustNew(t)
		for _, name := range []string{"x", "put-ABC", "meta-ABC"} {
			if err := os.WriteFile(filepath.Join(dir, "tmp", name), []byte("partial"), 0o640); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{name, "tmp/" + name} {
				if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Stat(%q) with a temporary file %q = %v, want ErrNotFound", key, name, err)
				}
			}
		}
	})

	t.Run("NewRemovesStaleLeftovers", func(t *testing.T) {
		_, dir := mustNew(t)
		stale := filepath.Join(dir, "tmp", "put-STALE")
		fresh := filepath.Join(dir, "tmp", "put-FRESH")
		for _, p := range []string{stale, fresh} {
			if err := os.WriteFile(p, []byte("partial"), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(stale, old, old); err != nil {
			t.Fatal(err)
		}
		mustOpen(t, dir)
		left := tempEntries(t, dir)
		if len(left) != 1 || left[0] != "put-FRESH" {
			t.Errorf("temporary files after New = %v, want only the recent put-FRESH (a Put may still own it)", left)
		}
	})
}

func TestSidecar(t *testing.T) {
	ctx := context.Background()

	cases := []struct {
		name  string
		spoil func(path string) error
	}{
		{"Missing", os.Remove},
		{"Corrupt", func(p string) error { return os.WriteFile(p, []byte("{not json"), 0o640) }},
		{"OfAnotherVersion", func(p string) error {
			return os.WriteFile(p, []byte(`{"size":4,"contentType":"text/plain","sha256":"`+strings.Repeat("0", 64)+`","modTime":"2020-01-01T00:00:00Z"}`), 0o640)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/ReportsUnknownChecksum", func(t *testing.T) {
			s, dir := mustNew(t)
			if _, err := s.Put(ctx, "rec/a.mp3", strings.NewReader("mp3 bytes"), "audio/x-custom"); err != nil {
				t.Fatal(err)
			}
			if err := tc.spoil(filepath.Join(dir, "meta", "rec", "a.mp3")); err != nil {
				t.Fatal(err)
			}
			info, err := s.Stat(ctx, "rec/a.mp3")
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			want := storage.BlobInfo{Size: int64(len("mp3 bytes")), ContentType: "audio/mpeg", SHA256: ""}
			if info.Size != want.Size || info.ContentType != want.ContentType || info.SHA256 != want.SHA256 {
				t.Errorf("Stat = %+v, want size, type by extension and no checksum: %+v", info, want)
			}
			if got := mustRead(t, s, "rec/a.mp3"); got != "mp3 bytes" {
				t.Errorf("Open read %q", got)
			}
			if err := s.Delete(ctx, "rec/a.mp3"); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	ctx := context.Background()

	// setup plants link inside the object tree pointing at a directory
	// outside the store that holds a secret.
	setup := func(t *testing.T, link func(outside, objects string) error) (*localfs.Store, string) {
		t.Helper()
		s, dir := mustNew(t)
		outside := filepath.Join(filepath.Dir(dir), "outside")
		if err := os.Mkdir(outside, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := link(outside, filepath.Join(dir, "objects")); err != nil {
			t.Fatal(err)
		}
		return s, outside
	}
	checkOutsideUntouched := func(t *testing.T, outside string) {
		t.Helper()
		entries, err := os.ReadDir(outside)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "secret" {
			t.Errorf("outside directory now holds %v, want only secret", entries)
		}
		if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "secret" {
			t.Errorf("outside secret now %q, %v", b, err)
		}
	}

	links := []struct {
		name string
		key  string // a key that would reach the secret through the link
		link func(outside, objects string) error
		// replaceable: the link is the key's own file, inside the store, so
		// a Put may replace the link itself.
		replaceable bool
	}{
		{"AbsoluteDirLink", "evil/secret", func(outside, objects string) error {
			return os.Symlink(outside, filepath.Join(objects, "evil"))
		}, false},
		{"RelativeDirLink", "evil/secret", func(outside, objects string) error {
			return os.Symlink(filepath.Join("..", "..", "outside"), filepath.Join(objects, "evil"))
		}, false},
		{"FileLink", "leak.wav", func(outside, objects string) error {
			return os.Symlink(filepath.Join(outside, "secret"), filepath.Join(objects, "leak.wav"))
		}, true},
	}
	for _, l := range links {
		t.Run(l.name+"/Refused", func(t *testing.T) {
			s, outside := setup(t, l.link)

			if rc, _, err := s.Open(ctx, l.key, 0, -1); err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Errorf("Open(%q) through a link out of the store succeeded and read %q", l.key, b)
			}
			if info, err := s.Stat(ctx, l.key); err == nil {
				t.Errorf("Stat(%q) through a link out of the store succeeded: %+v", l.key, info)
			}
			newKey := filepath.ToSlash(filepath.Join(filepath.Dir(l.key), "new.wav"))
			if _, err := s.Put(ctx, newKey, bytes.NewReader([]byte("planted")), ""); err == nil && !l.replaceable {
				t.Errorf("Put(%q) through a link out of the store succeeded", newKey)
			}
			if _, err := s.Put(ctx, l.key, bytes.NewReader([]byte("overwritten")), ""); err == nil && !l.replaceable {
				t.Errorf("Put(%q) through a link out of the store succeeded", l.key)
			}
			s.Delete(ctx, l.key)
			checkOutsideUntouched(t, outside)
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

func TestPing(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, _ := mustNew(t)
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
	t.Run("RemovedDirIsErrUnavailable", func(t *testing.T) {
		s, dir := mustNew(t)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Ping after the directory was removed = %v, want ErrUnavailable", err)
		}
	})
}
