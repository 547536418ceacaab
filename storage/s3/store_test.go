package s3

import (
	"testing"

	"switchboard/storage"
	"switchboard/storage/s3/s3test"
	"switchboard/storage/storagetest"
)

func TestStoreContract(t *testing.T) {
	t.Run("NoPrefix", func(t *testing.T) {
		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
			return mustStore(t, s3test.New(t), Config{})
		})
	})
	t.Run("Versioned", func(t *testing.T) {
		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
			return mustStore(t, s3test.NewVersioned(t), Config{})
		})
	})
	t.Run("Prefix", func(t *testing.T) {
		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
			return mustStore(t, s3test.New(t), Config{Prefix: "env/test-"})
		})
	})
}
