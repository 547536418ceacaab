package localfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"

	"switchboard/storage"
)

// copyBufferSize is the chunk a Put reads, hashes and writes at a time, and
// so how much it reads after its context is cancelled at most.
const copyBufferSize = 256 << 10

// Put stores everything read from r under key; see storage.BlobStore. An
// empty contentType is derived from the key's extension. ErrConflict when key
// clashes with another key's path ("a" and "a/b"). A cancelled ctx makes Put
// fail with an error wrapping ctx.Err().
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string) (storage.BlobInfo, error) {
	object, meta, err := paths(key)
	if err != nil {
		return storage.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.BlobInfo{}, fmt.Errorf("localfs: put %s: %w", key, err)
	}
	if contentType == "" {
		contentType = storage.ContentTypeByExt(key)
	}

	var temps []string
	defer func() {
		for _, name := range temps {
			s.root.Remove(name)
		}
	}()

	dataTemp, info, err := s.writeData(ctx, r)
	if dataTemp != "" {
		temps = append(temps, dataTemp)
	}
	if err != nil {
		return storage.BlobInfo{}, fmt.Errorf("localfs: put %s: %w", key, err)
	}
	info.ContentType = contentType

	sidecar, err := json.Marshal(sidecarOf(info))
	if err != nil {
		return storage.BlobInfo{}, fmt.Errorf("localfs: put %s: encode metadata: %w", key, err)
	}
	metaTemp, err := s.writeSidecar(sidecar)
	if metaTemp != "" {
		temps = append(temps, metaTemp)
	}
	if err != nil {
		return storage.BlobInfo{}, fmt.Errorf("localfs: put %s: write metadata: %w", key, err)
	}

	if err := s.commit(key, object, meta, dataTemp, metaTemp); err != nil {
		return storage.BlobInfo{}, err
	}
	temps = nil
	if err := errors.Join(s.syncDir(filepath.Dir(meta)), s.syncDir(filepath.Dir(object))); err != nil {
		return storage.BlobInfo{}, fmt.Errorf("localfs: put %s: sync directory: %w", key, err)
	}
	return info, nil
}

// writeData streams r into a new temporary file, synced and closed, and
// returns its name (also on failure, once created) with its size, SHA-256 and
// mtime.
func (s *Store) writeData(ctx context.Context, r io.Reader) (string, storage.BlobInfo, error) {
	f, name, err := s.createTemp("put-")
	if err != nil {
		return "", storage.BlobInfo{}, fmt.Errorf("create temporary file: %w", err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r}, make([]byte, copyBufferSize))
	if err != nil {
		f.Close()
		return name, storage.BlobInfo{}, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return name, storage.BlobInfo{}, fmt.Errorf("sync: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return name, storage.BlobInfo{}, fmt.Errorf("stat: %w", err)
	}
	if err := f.Close(); err != nil {
		return name, storage.BlobInfo{}, fmt.Errorf("close: %w", err)
	}
	if fi.Size() != n {
		return name, storage.BlobInfo{}, fmt.Errorf("wrote %d bytes but the file holds %d", n, fi.Size())
	}
	return name, storage.BlobInfo{
		Size:    n,
		SHA256:  hex.EncodeToString(h.Sum(nil)),
		ModTime: fi.ModTime().UTC(),
	}, nil
}

// writeSidecar writes b to a new temporary file, synced and closed.
func (s *Store) writeSidecar(b []byte) (string, error) {
	f, name, err := s.createTemp("meta-")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return name, err
}

// commit moves the sidecar, then the object, into place. The object's rename
// is what makes the new version visible; readers in this process never see
// the sidecar and object of different versions because they hold the key's
// read lock.
func (s *Store) commit(key, object, meta, dataTemp, metaTemp string) error {
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()

	if fi, err := s.root.Lstat(object); err == nil && fi.IsDir() {
		return storage.Errorf(storage.ErrConflict, "blob key %s is a prefix of other keys", key)
	}
	for _, dir := range []string{filepath.Dir(object), filepath.Dir(meta)} {
		if err := s.root.MkdirAll(dir, dirPerm); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
				return storage.Wrap(storage.ErrConflict, err, "blob key "+key+" has another key as a prefix")
			}
			return fmt.Errorf("localfs: put %s: create directory: %w", key, err)
		}
	}
	if err := s.root.Rename(metaTemp, meta); err != nil {
		return fmt.Errorf("localfs: put %s: rename metadata: %w", key, err)
	}
	if err := s.root.Rename(dataTemp, object); err != nil {
		return fmt.Errorf("localfs: put %s: rename object: %w", key, err)
	}
	return nil
}

// ctxReader stops a copy at the first chunk read after ctx is done, so a
// cancelled Put never commits even when r itself ignores the context.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
