package handlers_test

import (
	"testing"

	"switchboard/storage/postgres/pgtest"
)

// TestMain gives the tests that run on PostgreSQL a throwaway server,
// started only when one of them asks for a database.
func TestMain(m *testing.M) { pgtest.Main(m) }
