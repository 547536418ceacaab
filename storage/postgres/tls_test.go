package postgres_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// tlsCluster starts a cluster serving a certificate for host, signed by
// ca, and returns a verify-full configuration reaching it as "localhost".
func tlsCluster(t *testing.T, ca *postgres.TestCA, host string) postgres.Config {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, host)
	c := pgtest.StartCluster(t, pgtest.Options{ServerCertPEM: certPEM, ServerKeyPEM: keyPEM})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(fmt.Sprintf("postgres://%s@localhost:%d/postgres?sslmode=verify-full", pgtest.Superuser, c.Port()))
	cfg.CAFile = caFile
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return cfg
}

func TestTLSVerifyFull(t *testing.T) {
	ca := postgres.NewTestCA(t)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, tlsCluster(t, ca, "localhost"))
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping over verify-full: %v", err)
		}
		var ssl bool
		if err := s.QueryRowForTest(t.Context(), `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`, &ssl); err != nil {
			t.Fatal(err)
		}
		if !ssl {
			t.Fatal("the connection is not encrypted")
		}
	})

	t.Run("ErrUnavailableForOtherHostName", func(t *testing.T) {
		t.Parallel()
		s := mustOpen(t, tlsCluster(t, ca, "db.example.com"))
		err := s.Ping(t.Context())
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Ping = %v, want ErrUnavailable", err)
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Ping = %v, want a certificate verification failure", err)
		}
	})
}
