package postgres_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// appliedVersions returns every version row goose recorded, in order.
func appliedVersions(t *testing.T, url string) []int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), `SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id`)
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// embeddedVersions lists the versions of the embedded migration files.
func embeddedVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(postgres.Migrations(), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v %v", names, err)
	}
	var vs []int64
	for _, n := range names {
		v, err := strconv.ParseInt(strings.SplitN(n, "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration %s has no version prefix", n)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrate(t *testing.T) {
	t.Run("TenConcurrentRunsApplyEachMigrationOnce", func(t *testing.T) {
		url := pgtest.URL(t)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		errs := make([]error, 10)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = postgres.Migrate(ctx, testConfig(url)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Migrate #%d: %v", i, err)
			}
		}
		// Version 0 is goose's own marker row, written once with the table.
		want := append([]int64{0}, embeddedVersions(t)...)
		if diff := cmp.Diff(want, appliedVersions(t, url)); diff != "" {
			t.Fatalf("goose_db_version after ten runs (-want +got):\n%s", diff)
		}

		t.Run("AgainChangesNothing", func(t *testing.T) {
			if err := postgres.Migrate(ctx, testConfig(url)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if diff := cmp.Diff(want, appliedVersions(t, url)); diff != "" {
				t.Fatalf("goose_db_version after another run (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("OpenMigratesOnStart", func(t *testing.T) {
		cfg := testConfig(pgtest.URL(t))
		cfg.MigrateOnStart = true
		s := mustOpen(t, cfg)
		if _, err := s.ListCalls(t.Context(), storageFilter()); err != nil {
			t.Fatalf("ListCalls on a store opened with MigrateOnStart: %v", err)
		}
	})
}
