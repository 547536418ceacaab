package localfs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"switchboard/storage"
)

// sidecar is the JSON kept in meta/<key>. Size and ModTime identify the
// object file it describes.
type sidecar struct {
	Size        int64     `json:"size"`
	ContentType string    `json:"contentType"`
	SHA256      string    `json:"sha256"`
	ModTime     time.Time `json:"modTime"`
}

func sidecarOf(info storage.BlobInfo) sidecar {
	return sidecar{Size: info.Size, ContentType: info.ContentType, SHA256: info.SHA256, ModTime: info.ModTime}
}

// Open returns a reader for length bytes of the object from offset (length <
// 0: to the end); see storage.BlobStore. It reads the file range by range and
// never the whole file.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.BlobInfo, error) {
	object, meta, err := paths(key)
	if err != nil {
		return nil, storage.BlobInfo{}, err
	}
	if offset < 0 {
		return nil, storage.BlobInfo{}, storage.Errorf(storage.ErrInvalid, "range offset must not be negative")
	}
	if err := ctx.Err(); err != nil {
		return nil, storage.BlobInfo{}, fmt.Errorf("localfs: open %s: %w", key, err)
	}
	f, info, err := s.openObject(key, object, meta)
	if err != nil {
		return nil, storage.BlobInfo{}, err
	}
	if offset > info.Size {
		f.Close()
		return nil, storage.BlobInfo{}, storage.Errorf(storage.ErrInvalid, "range starts at %d, past the end of a %d-byte object", offset, info.Size)
	}
	n := info.Size - offset
	if length >= 0 && length < n {
		n = length
	}
	return &rangeReader{SectionReader: io.NewSectionReader(f, offset, n), f: f}, info, nil
}

// Stat returns the object's info; see storage.BlobStore.
func (s *Store) Stat(ctx context.Context, key string) (storage.BlobInfo, error) {
	object, meta, err := paths(key)
	if err != nil {
		return storage.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.BlobInfo{}, fmt.Errorf("localfs: stat %s: %w", key, err)
	}
	f, info, err := s.openObject(key, object, meta)
	if err != nil {
		return storage.BlobInfo{}, err
	}
	f.Close()
	return info, nil
}

// openObject opens the object file and reads its sidecar under the key's
// read lock, so both describe the same version. The open file stays readable
// even if a Put or Delete replaces the name afterwards.
func (s *Store) openObject(key, object, meta string) (*os.File, storage.BlobInfo, error) {
	mu := s.lock(key)
	mu.RLock()
	defer mu.RUnlock()

	f, err := s.root.Open(object)
	if err != nil {
		if isNotExist(err) {
			return nil, storage.BlobInfo{}, storage.Errorf(storage.ErrNotFound, "blob %s not found", key)
		}
		return nil, storage.BlobInfo{}, fmt.Errorf("localfs: open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, storage.BlobInfo{}, fmt.Errorf("localfs: stat %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A directory holding longer keys, not an object.
		f.Close()
		return nil, storage.BlobInfo{}, storage.Errorf(storage.ErrNotFound, "blob %s not found", key)
	}
	info := storage.BlobInfo{
		Size:        fi.Size(),
		ContentType: storage.ContentTypeByExt(key),
		ModTime:     fi.ModTime().UTC(),
	}
	if m, ok := s.readSidecar(meta); ok && m.Size == fi.Size() && m.ModTime.Equal(fi.ModTime()) {
		info.ContentType = m.ContentType
		info.SHA256 = m.SHA256
	}
	return f, info, nil
}

// readSidecar returns the sidecar at meta, or false when it is missing or
// unreadable: the object is then reported without its checksum rather than
// not at all, since its bytes are complete.
func (s *Store) readSidecar(meta string) (sidecar, bool) {
	b, err := s.root.ReadFile(meta)
	if err != nil {
		return sidecar{}, false
	}
	var m sidecar
	if err := json.Unmarshal(b, &m); err != nil {
		return sidecar{}, false
	}
	return m, true
}

// rangeReader reads one range of an open object file and closes the file.
type rangeReader struct {
	*io.SectionReader
	f *os.File
}

func (r *rangeReader) Close() error {
	return r.f.Close()
}
