package s3

import (
	"testing"

	"switchboard/storage"
	"switchboard/storage/storagetest"
)

func TestStoreContract(t *testing.T) {
	t.Run("NoPrefix", func(t *testing.T) {
		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
			return mustStore(t, mustFakeS3(t), Config{})
		})
	})
	t.Run("Versioned", func(t *testing.T) {
		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
			return mustStore(t, mustVersionedFakeS3(t), Config{})
		})
	})
	t.Run("Prefix", func(t *testing.T) {
		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
			return mustStore(t, mustFakeS3(t), Config{Prefix: "env/test-"})
		})
	})
}
