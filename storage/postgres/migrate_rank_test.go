package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// TestInitiatedMigrationRenumbersRanks: calls stored before the initiated
// status existed keep their order after migration 3 moves every rank from
// ringing up one place.
func TestInitiatedMigrationRenumbersRanks(t *testing.T) {
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, postgres.Migrations(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	old := map[string]int{"queued": 1, "ringing": 2, "in-progress": 3, "completed": 4, "busy": 4}
	for st, rank := range old {
		if _, err := db.ExecContext(t.Context(), `INSERT INTO calls (sid, status, status_rank, created_at, updated_at)
			VALUES ('CA' || md5($1), $1, $2, now(), now())`, st, rank); err != nil {
			t.Fatal(err)
		}
	}
	if err := postgres.Migrate(t.Context(), testConfig(url)); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for st := range old {
		var rank int
		if err := conn.QueryRow(t.Context(), `SELECT status_rank FROM calls WHERE status = $1`, st).Scan(&rank); err != nil {
			t.Fatal(err)
		}
		if want := storage.CallStatus(st).Rank(); rank != want {
			t.Errorf("%s: rank %d after migration, want %d", st, rank, want)
		}
	}
}
