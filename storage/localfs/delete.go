package localfs

import (
	"context"
	"fmt"
)

// Delete removes the object and its sidecar; see storage.BlobStore. A key
// that names a directory of longer keys is not an object, so nothing is
// removed.
func (s *Store) Delete(ctx context.Context, key string) error {
	object, meta, err := paths(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localfs: delete %s: %w", key, err)
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()

	fi, err := s.root.Lstat(object)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		if err := s.root.Remove(object); err != nil && !isNotExist(err) {
			return fmt.Errorf("localfs: delete %s: %w", key, err)
		}
	case !isNotExist(err):
		return fmt.Errorf("localfs: delete %s: %w", key, err)
	}
	// Also clears a sidecar orphaned by a crash between a Put's renames.
	if fi, err := s.root.Lstat(meta); err == nil && !fi.IsDir() {
		if err := s.root.Remove(meta); err != nil && !isNotExist(err) {
			return fmt.Errorf("localfs: delete %s: remove metadata: %w", key, err)
		}
	} else if err != nil && !isNotExist(err) {
		return fmt.Errorf("localfs: delete %s: metadata: %w", key, err)
	}
	return nil
}
