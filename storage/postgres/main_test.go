package postgres_test

import (
	"context"
	"testing"
	"time"

	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
	"switchboard/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testConfig is the configuration the service would parse for url, with
// the environment's defaults.
func testConfig(url string) postgres.Config {
	return postgres.Config{
		URL:              url,
		MaxConns:         10,
		WriteConcurrency: 2,
		ConnectTimeout:   3 * time.Second,
		QueryTimeout:     5 * time.Second,
	}
}

// mustOpen opens a store on url and closes it when the test ends.
func mustOpen(t *testing.T, cfg postgres.Config) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestCallStore(t *testing.T) {
	storagetest.TestCallStore(t, func(t *testing.T) storage.Store {
		return mustOpen(t, testConfig(pgtest.MigratedURL(t)))
	})
}

func storageFilter() storage.CallFilter { return storage.CallFilter{Limit: 1} }
