package pgtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"switchboard/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func tables(t *testing.T, url string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestURL(t *testing.T) {
	t.Run("FreshEmptyDatabases", func(t *testing.T) {
		a, b := pgtest.URL(t), pgtest.URL(t)
		if a == b {
			t.Fatalf("two calls returned the same database %s", a)
		}
		for _, u := range []string{a, b} {
			if got := tables(t, u); len(got) != 0 {
				t.Errorf("database %s has tables %v, want none", u, got)
			}
		}
	})
}

func TestMigratedURL(t *testing.T) {
	t.Run("HasSchema", func(t *testing.T) {
		got := strings.Join(tables(t, pgtest.MigratedURL(t)), " ")
		for _, want := range []string{"calls", "turns", "recordings", "work", "goose_db_version"} {
			if !strings.Contains(got, want) {
				t.Errorf("tables %q lack %s", got, want)
			}
		}
	})
}

func TestCluster(t *testing.T) {
	c := pgtest.StartCluster(t, pgtest.Options{})
	url := c.MigratedURL(t)
	t.Run("StopRefusesConnections", func(t *testing.T) {
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		if conn, err := pgx.Connect(t.Context(), url); err == nil {
			conn.Close(context.Background())
			t.Fatal("connected to a stopped cluster")
		}
	})
	t.Run("StartServesTheSameData", func(t *testing.T) {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if got := tables(t, url); len(got) == 0 {
			t.Fatal("the database lost its tables across the restart")
		}
	})
}
