package worker

import (
	"testing"

	"switchboard/storage/postgres/pgtest"
)

// TestMain gives the retention tests a throwaway PostgreSQL cluster
// (pgtest), started only when a test asks for a database.
func TestMain(m *testing.M) { pgtest.Main(m) }
