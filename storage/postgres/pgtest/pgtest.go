// Package pgtest gives tests real PostgreSQL databases: a fresh database per
// test, in a server started once per test binary (or the one named by
// TEST_DATABASE_URL), plus dedicated clusters that a test may stop and start
// to see how the code under test lives through a database restart.
//
// A package using it runs its tests through Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// A missing PostgreSQL fails the test with instructions; it is never a skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage/postgres"
)

// Server is a PostgreSQL server in which tests create their databases.
type Server struct {
	admin    string // URL of a database to connect to for CREATE/DROP DATABASE
	external bool   // databases are dropped after each test: the server outlives the binary

	tmplOnce sync.Once
	tmpl     string
	tmplErr  error
}

// URL returns the URL of a new, empty database (no schema), dropped or
// discarded when the test ends.
func (s *Server) URL(t testing.TB) string {
	t.Helper()
	return s.create(t, "template0")
}

// MigratedURL returns the URL of a new database that already has the
// current schema, copied from a template migrated once per test binary.
func (s *Server) MigratedURL(t testing.TB) string {
	t.Helper()
	s.tmplOnce.Do(func() { s.tmpl, s.tmplErr = s.migratedTemplate() })
	if s.tmplErr != nil {
		t.Fatalf("pgtest: preparing the migrated template database: %v", s.tmplErr)
	}
	return s.create(t, s.tmpl)
}

// AdminURL is the URL of the server's maintenance database, connected to
// as a superuser.
func (s *Server) AdminURL() string { return s.admin }

func (s *Server) create(t testing.TB, template string) string {
	t.Helper()
	name := uniqueName("t")
	if err := s.exec("CREATE DATABASE " + quoteIdent(name) + " TEMPLATE " + quoteIdent(template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	if s.external {
		t.Cleanup(func() {
			if err := s.exec("DROP DATABASE IF EXISTS " + quoteIdent(name) + " WITH (FORCE)"); err != nil {
				t.Errorf("pgtest: drop database %s: %v", name, err)
			}
		})
	}
	return s.databaseURL(name)
}

func (s *Server) migratedTemplate() (string, error) {
	name := uniqueName("tmpl")
	if err := s.exec("CREATE DATABASE " + quoteIdent(name) + " TEMPLATE template0"); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, postgres.Config{URL: s.databaseURL(name), ConnectTimeout: 10 * time.Second}); err != nil {
		return "", err
	}
	if s.external {
		// Marked as a template so a later run's cleanup can find and drop it.
		if err := s.exec("ALTER DATABASE " + quoteIdent(name) + " IS_TEMPLATE true"); err != nil {
			return "", err
		}
	}
	return name, nil
}

func (s *Server) dropTemplate() error {
	if s.tmpl == "" || !s.external {
		return nil
	}
	if err := s.exec("ALTER DATABASE " + quoteIdent(s.tmpl) + " IS_TEMPLATE false"); err != nil {
		return err
	}
	return s.exec("DROP DATABASE IF EXISTS " + quoteIdent(s.tmpl) + " WITH (FORCE)")
}

func (s *Server) databaseURL(name string) string {
	u, err := url.Parse(s.admin)
	if err != nil {
		panic("pgtest: admin URL must be a URL: " + err.Error())
	}
	u.Path = "/" + name
	return u.String()
}

func (s *Server) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func uniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("pgtest_%s_%d_%s", prefix, os.Getpid(), hex.EncodeToString(b))
}

// The server shared by the tests of one binary, started on first use.
var shared struct {
	once    sync.Once
	server  *Server
	cluster *Cluster // nil when TEST_DATABASE_URL names the server
	err     error
}

func sharedServer(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			shared.server = &Server{admin: u, external: true}
			return
		}
		shared.cluster, shared.err = NewCluster(Options{})
		if shared.err == nil {
			shared.server = &shared.cluster.Server
		}
	})
	if shared.err != nil {
		t.Fatal(missing(shared.err))
	}
	return shared.server
}

// URL returns the URL of a new, empty database in the shared server.
func URL(t testing.TB) string {
	t.Helper()
	return sharedServer(t).URL(t)
}

// MigratedURL returns the URL of a new database with the current schema in
// the shared server.
func MigratedURL(t testing.TB) string {
	t.Helper()
	return sharedServer(t).MigratedURL(t)
}

// StartCluster starts a cluster for this test alone (one it may stop and
// start, or configure with TLS); it is removed when the test ends.
func StartCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := NewCluster(opts)
	if err != nil {
		t.Fatal(missing(err))
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgtest: close cluster: %v", err)
		}
	})
	return c
}

// Main runs the tests, then stops the shared cluster and removes its
// directory (or drops the template database from TEST_DATABASE_URL's server).
func Main(m *testing.M) {
	code := m.Run()
	if shared.server != nil {
		if err := shared.server.dropTemplate(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: drop template database:", err)
		}
	}
	if shared.cluster != nil {
		if err := shared.cluster.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: close cluster:", err)
		}
	}
	os.Exit(code)
}

// missing explains how to give the tests a PostgreSQL server.
func missing(err error) string {
	why := "these tests need PostgreSQL and could not start one"
	if os.Getenv("CI") == "true" {
		why = "CI=true: PostgreSQL is required and could not be started"
	}
	return fmt.Sprintf("pgtest: %s: %v\n"+
		"Install the server (Debian/Ubuntu: apt-get install postgresql; the tests start a throwaway cluster "+
		"from /usr/lib/postgresql/*/bin, as the \"postgres\" user when run as root), "+
		"or set TEST_DATABASE_URL to a superuser URL of a running server.", why, err)
}
