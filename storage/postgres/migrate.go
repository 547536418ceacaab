package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations (goose SQL files).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Migrate applies every pending migration. It holds a PostgreSQL
// session-level advisory lock while it works, so any number of instances
// may call it at once: one applies each migration, the others wait and then
// find nothing to do. The caller's ctx bounds the whole run, lock wait included.
func Migrate(ctx context.Context, cfg Config) error {
	cc, err := cfg.connConfig()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// DDL may legitimately run longer than a webhook's query.
	delete(cc.RuntimeParams, "statement_timeout")
	var opts []stdlib.OptionOpenDB
	if cfg.IAMAuth {
		hook, err := cfg.iamHook(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, stdlib.OptionBeforeConnect(hook))
	}
	db := stdlib.OpenDB(*cc, opts...)
	defer db.Close()

	// Waiters poll the lock every second for up to ten minutes; ctx ends
	// the wait sooner.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, Migrations(),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", translate(err, "migrate"))
	}
	return nil
}
