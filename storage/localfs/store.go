package localfs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard/storage"
)

var (
	_ storage.BlobStore = (*Store)(nil)
	_ storage.Pinger    = (*Store)(nil)
)

// The trees under the store's directory; see the package documentation.
const (
	objectsDir = "objects"
	metaDir    = "meta"
	tmpDir     = "tmp"
)

const (
	filePerm = 0o640
	dirPerm  = 0o750

	// staleTempAge is how old a temporary file must be before New removes
	// it: old enough that no Put can still be writing it.
	staleTempAge = time.Hour

	// maxSegmentLen is the longest file name common filesystems accept;
	// a longer key segment could never be stored.
	maxSegmentLen = 255

	// lockStripes bounds the per-key locks' memory whatever the number of keys.
	lockStripes = 64
)

// Store keeps blobs under one directory. It is safe for concurrent use; one
// process should own a directory (see the package documentation for what
// happens when several do).
type Store struct {
	dir   string
	root  *os.Root
	locks [lockStripes]sync.RWMutex
}

// New opens the store in dir, creating dir and its trees (mode 0750) if
// needed, and removes temporary files left over by a crash.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, storage.Errorf(storage.ErrInvalid, "blob directory must be set")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("localfs: create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("localfs: open %s: %w", dir, err)
	}
	for _, d := range []string{objectsDir, metaDir, tmpDir} {
		if err := root.MkdirAll(d, dirPerm); err != nil {
			root.Close()
			return nil, fmt.Errorf("localfs: create %s: %w", filepath.Join(dir, d), err)
		}
	}
	s := &Store{dir: dir, root: root}
	if err := s.removeStaleTemps(time.Now().Add(-staleTempAge)); err != nil {
		root.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the directory handle; the Store must not be used afterwards.
func (s *Store) Close() error {
	return s.root.Close()
}

// Ping reports ErrUnavailable unless the directory can still be written: it
// may have been removed, remounted read-only or filled up since New.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localfs: ping: %w", err)
	}
	fi, err := s.root.Stat(".")
	if err != nil {
		return storage.Wrap(storage.ErrUnavailable, err, "blob directory is not reachable")
	}
	if !fi.IsDir() {
		return storage.Errorf(storage.ErrUnavailable, "blob directory is not a directory")
	}
	f, name, err := s.createTemp("ping-")
	if err != nil {
		return storage.Wrap(storage.ErrUnavailable, err, "blob directory is not writable")
	}
	closeErr := f.Close()
	removeErr := s.root.Remove(name)
	if err := errors.Join(closeErr, removeErr); err != nil {
		return storage.Wrap(storage.ErrUnavailable, err, "blob directory is not writable")
	}
	return nil
}

// paths returns the object's and the sidecar's names relative to the root,
// or ErrInvalid for a key that is not valid or has a segment no filesystem
// could hold.
// CheckKey already rules out every escape; the IsLocal and prefix checks
// repeat that in the platform's own terms (and reject names such as NUL on
// Windows) so a future change to CheckKey cannot open a hole here.
func paths(key string) (object, meta string, err error) {
	if err := storage.CheckKey(key); err != nil {
		return "", "", err
	}
	rel := filepath.FromSlash(key)
	if !filepath.IsLocal(rel) || path.Clean(key) != key {
		return "", "", storage.Errorf(storage.ErrInvalid, "blob key is not a local path")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if len(seg) > maxSegmentLen {
			return "", "", storage.Errorf(storage.ErrInvalid, "blob key segment longer than %d bytes", maxSegmentLen)
		}
	}
	object = filepath.Join(objectsDir, rel)
	meta = filepath.Join(metaDir, rel)
	if !strings.HasPrefix(object, objectsDir+string(filepath.Separator)) ||
		!strings.HasPrefix(meta, metaDir+string(filepath.Separator)) {
		return "", "", storage.Errorf(storage.ErrInvalid, "blob key is not a local path")
	}
	return object, meta, nil
}

// lock returns the lock guarding key.
func (s *Store) lock(key string) *sync.RWMutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &s.locks[h.Sum32()%lockStripes]
}

// createTemp creates a new file in the temporary tree. Its name has an
// upper-case random part, though no name there could be a key anyway.
func (s *Store) createTemp(prefix string) (*os.File, string, error) {
	name := filepath.Join(tmpDir, prefix+rand.Text())
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, "", err
	}
	return f, name, nil
}

// removeStaleTemps removes temporary files last modified before cutoff.
func (s *Store) removeStaleTemps(cutoff time.Time) error {
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return fmt.Errorf("localfs: open temporary directory: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("localfs: list temporary directory: %w", err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := s.root.RemoveAll(filepath.Join(tmpDir, e.Name())); err != nil && !isNotExist(err) {
			return fmt.Errorf("localfs: remove stale temporary file: %w", err)
		}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	closeErr := d.Close()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		// Some filesystems cannot sync a directory; the rename stands.
		err = nil
	}
	return errors.Join(err, closeErr)
}

// isNotExist reports whether err means that no file is at a path, including
// when a parent on the path is a file rather than a directory.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
