package assistant

import (
	"context"
	"sync"

	"switchboard/storage"
)

// VersionReader reads stored assistant versions; storage.Assistants has it.
type VersionReader interface {
	GetAssistantVersion(ctx context.Context, id string, version int) (storage.Assistant, error)
}

// maxCachedVersions bounds Versions' memory: past it, an arbitrary entry
// makes room (a version is read again at worst).
const maxCachedVersions = 4096

// Versions resolves the assistant version a call runs with to its
// settings: the deployment's default assistant for storage.DefaultRef,
// else the stored version, which is kept once read. A version never
// changes once stored, so the cache needs no expiry and is never stale:
// a webhook of a call pays for reading its version once per instance, and
// a change of prompt is a new version that new calls name.
type Versions struct {
	store VersionReader
	def   storage.Assistant

	mu    sync.RWMutex
	cache map[storage.AssistantRef]storage.Assistant
}

// NewVersions returns a resolver over store whose default assistant is def
// (ID and Version are set to storage.DefaultRef's).
func NewVersions(store VersionReader, def storage.Assistant) *Versions {
	def.ID, def.Version = storage.DefaultRef.ID, storage.DefaultRef.Version
	return &Versions{store: store, def: def, cache: make(map[storage.AssistantRef]storage.Assistant)}
}

// Default returns the default assistant.
func (v *Versions) Default() storage.Assistant { return v.def }

// Get returns the settings of ref. Errors are the store's (ErrNotFound for
// a version that does not exist, ErrUnavailable, …).
func (v *Versions) Get(ctx context.Context, ref storage.AssistantRef) (storage.Assistant, error) {
	if ref.IsDefault() {
		return v.def, nil
	}
	v.mu.RLock()
	a, ok := v.cache[ref]
	v.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, err := v.store.GetAssistantVersion(ctx, ref.ID, ref.Version)
	if err != nil {
		return storage.Assistant{}, err
	}
	v.mu.Lock()
	if len(v.cache) >= maxCachedVersions {
		for k := range v.cache {
			delete(v.cache, k)
			break
		}
	}
	v.cache[ref] = a
	v.mu.Unlock()
	return a, nil
}
