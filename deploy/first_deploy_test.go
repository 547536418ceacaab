// Package deploy holds no code: its test runs the SQL of the first
// deployment (first-deploy.sql) as deploy/terraform/README.md tells an
// operator to, against a throwaway PostgreSQL with a non-superuser admin, as
// RDS's master user is.
package deploy

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// as returns the cluster's URL for user and database (trust authentication:
// the test is about privileges, not passwords).
func as(t *testing.T, c *pgtest.Cluster, user, db string) string {
	t.Helper()
	u, err := url.Parse(c.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)
	u.Path = "/" + db
	return u.String()
}

func mustExec(t *testing.T, dsn string, sql string) {
	t.Helper()
	if err := execSQL(dsn, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func execSQL(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// mustRDS starts a cluster shaped like a new RDS instance: the rds_iam role,
// a master user switchboard_admin with CREATEROLE and CREATEDB but not
// superuser (and ADMIN on rds_iam, as rds_superuser has), and the database
// switchboard created by and so owned by the master user.
func mustRDS(t *testing.T) *pgtest.Cluster {
	t.Helper()
	c := pgtest.StartCluster(t, pgtest.Options{})
	mustExec(t, c.AdminURL(), `
		CREATE ROLE rds_iam;
		CREATE ROLE switchboard_admin LOGIN CREATEROLE CREATEDB;
		GRANT rds_iam TO switchboard_admin WITH ADMIN OPTION;`)
	mustExec(t, as(t, c, "switchboard_admin", "postgres"), "CREATE DATABASE switchboard")
	return c
}

func firstDeploySQL(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("first-deploy.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestFirstDeploySQL: run as the non-superuser master user, the SQL makes
// the service's user, lets it authenticate with IAM, and makes it the
// database's owner, which is enough to apply every migration.
func TestFirstDeploySQL(t *testing.T) {
	c := mustRDS(t)
	admin := as(t, c, "switchboard_admin", "switchboard")
	mustExec(t, admin, firstDeploySQL(t))

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner string
	var superuser, iam, login bool
	err = conn.QueryRow(ctx, `
		SELECT pg_get_userbyid(d.datdba), r.rolsuper, pg_has_role('switchboard', 'rds_iam', 'MEMBER'), r.rolcanlogin
		FROM pg_database d, pg_roles r
		WHERE d.datname = 'switchboard' AND r.rolname = 'switchboard'`).Scan(&owner, &superuser, &iam, &login)
	if err != nil {
		t.Fatal(err)
	}
	if owner != "switchboard" || superuser || !iam || !login {
		t.Errorf("owner %q, superuser %v, rds_iam %v, login %v; want owner switchboard, a plain user that logs in with IAM", owner, superuser, iam, login)
	}

	// The service's user applies the schema: the migrations run at start-up
	// (DB_MIGRATE_ON_START) as that user.
	service := as(t, c, "switchboard", "switchboard")
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := postgres.Migrate(mctx, postgres.Config{URL: service, ConnectTimeout: 5 * time.Second, QueryTimeout: 5 * time.Second}); err != nil {
		t.Fatalf("migrations as the service's user: %v", err)
	}
	db, err := pgx.Connect(ctx, as(t, c, pgtest.Superuser, "switchboard"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var tables int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'switchboard'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables == 0 {
		t.Error("the migrations created no table owned by switchboard")
	}
}

// TestFirstDeploySQLNeedsTheGrant: without GRANT switchboard TO
// CURRENT_USER the master user cannot hand the database over, which is the
// step that failed.
func TestFirstDeploySQLNeedsTheGrant(t *testing.T) {
	c := mustRDS(t)
	sql := strings.Replace(firstDeploySQL(t), "GRANT switchboard TO CURRENT_USER;", "", 1)
	if sql == firstDeploySQL(t) {
		t.Fatal("first-deploy.sql no longer grants switchboard to the master user")
	}
	err := execSQL(as(t, c, "switchboard_admin", "switchboard"), sql)
	if err == nil || !strings.Contains(err.Error(), "must be") {
		t.Errorf("ALTER DATABASE … OWNER without the grant = %v, want a privilege error", err)
	}
	t.Logf("without the grant: %v", err)
}

// TestREADMEShowsTheSQL: the README's step 3 is the file, statement for
// statement.
func TestREADMEShowsTheSQL(t *testing.T) {
	readme, err := os.ReadFile("terraform/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(firstDeploySQL(t), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "--") {
			continue
		}
		if !strings.Contains(string(readme), line) {
			t.Errorf("deploy/terraform/README.md does not show %q from first-deploy.sql", line)
		}
	}
}
