package postgres

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is how the store reaches PostgreSQL, read from the environment with
// caarlos0/env. The zero values of the durations mean "no limit"; the
// defaults below apply when the variables are parsed.
type Config struct {
	// URL is a PostgreSQL URL or keyword/value DSN (it may carry a password,
	// so it is never logged as is).
	URL string `env:"DATABASE_URL"`
	// MaxConns bounds the pool: size ASG max × MaxConns below the server's
	// max_connections.
	MaxConns int32 `env:"DB_MAX_CONNS" envDefault:"10"`
	// WriteConcurrency is how many batches of webhook writes (incoming
	// call, status and recording callbacks, turns) run at once. A write
	// that finds one free goes at once, on its own; writes that arrive
	// while all are busy wait for the first to finish and then go together,
	// in one round trip and one transaction, so a busy instance pays a
	// transaction's fixed costs once per batch. 0 sends every write on its
	// own, as many at once as the pool allows; more than MaxConns counts as
	// MaxConns.
	WriteConcurrency int `env:"DB_WRITE_CONCURRENCY" envDefault:"2"`
	// MinConns keeps that many connections open even when idle.
	MinConns int32 `env:"DB_MIN_CONNS" envDefault:"0"`
	// ConnectTimeout bounds opening one connection (TCP, TLS, authentication).
	ConnectTimeout time.Duration `env:"DB_CONNECT_TIMEOUT" envDefault:"3s"`
	// QueryTimeout bounds every store call, even when the caller's context
	// has no deadline, so a stalled database turns into ErrUnavailable well
	// inside Twilio's 15 s instead of a hung webhook.
	QueryTimeout time.Duration `env:"DB_QUERY_TIMEOUT" envDefault:"5s"`
	// CAFile is a PEM bundle of the CAs to trust (the RDS global bundle).
	// When set, DATABASE_URL must ask for sslmode=verify-full.
	CAFile string `env:"DB_CA_FILE"`
	// IAMAuth replaces the password with an RDS IAM token, made fresh for
	// every new connection from the default AWS credential chain.
	IAMAuth bool `env:"DB_IAM_AUTH"`
	// Region is the AWS region IAM tokens are signed for.
	Region string `env:"AWS_REGION"`
	// MigrateOnStart applies pending migrations in Open (under an advisory
	// lock, so any number of instances may start at once).
	MigrateOnStart bool `env:"DB_MIGRATE_ON_START" envDefault:"false"`
	// Dial, when set, opens the store's connections instead of a plain
	// dialer: for tests and tools that watch what crosses the network.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error) `env:"-"`
}

// Validate reports every problem with the configuration at once, each
// naming the variable to fix.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var sslmode string
	if c.URL == "" {
		bad("DATABASE_URL is required")
	} else if _, err := pgx.ParseConfig(c.URL); err != nil {
		// pgconn's parse errors redact the password.
		bad("DATABASE_URL is not a valid PostgreSQL URL or DSN: %v", err)
	} else {
		sslmode = sslModeOf(c.URL)
	}
	if c.MaxConns < 1 {
		bad("DB_MAX_CONNS must be at least 1, got %d", c.MaxConns)
	}
	if c.MinConns < 0 || c.MinConns > c.MaxConns {
		bad("DB_MIN_CONNS must be between 0 and DB_MAX_CONNS (%d), got %d", c.MaxConns, c.MinConns)
	}
	if c.WriteConcurrency < 0 {
		bad("DB_WRITE_CONCURRENCY must be 0 or more, got %d", c.WriteConcurrency)
	}
	if c.ConnectTimeout <= 0 {
		bad("DB_CONNECT_TIMEOUT must be positive, got %s", c.ConnectTimeout)
	}
	if c.QueryTimeout <= 0 {
		bad("DB_QUERY_TIMEOUT must be positive, got %s", c.QueryTimeout)
	}
	if c.CAFile != "" {
		if _, err := loadCAs(c.CAFile); err != nil {
			bad("DB_CA_FILE: %v", err)
		}
		if c.URL != "" && sslmode != "verify-full" {
			bad("DB_CA_FILE is set, so DATABASE_URL must use sslmode=verify-full (it has %q)", sslmode)
		}
	}
	if c.IAMAuth {
		if c.Region == "" {
			bad("DB_IAM_AUTH needs AWS_REGION, the region tokens are signed for")
		}
		if c.URL != "" && sslmode != "verify-full" {
			bad("DB_IAM_AUTH sends a credential at connect time, so DATABASE_URL must use sslmode=verify-full (it has %q)", sslmode)
		}
	}
	return errors.Join(errs...)
}

// RedactedURL is DATABASE_URL with its password masked, for the start-up
// configuration dump and logs.
func (c Config) RedactedURL() string {
	if strings.HasPrefix(c.URL, "postgres://") || strings.HasPrefix(c.URL, "postgresql://") {
		u, err := url.Parse(c.URL)
		if err != nil {
			return "(unparsable URL)"
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	f := strings.Fields(c.URL)
	for i, kv := range f {
		if strings.HasPrefix(kv, "password=") {
			f[i] = "password=xxxxx"
		}
	}
	return strings.Join(f, " ")
}

// sslModeOf reads the sslmode a connection string asks for ("" when absent).
func sslModeOf(conn string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			return ""
		}
		return u.Query().Get("sslmode")
	}
	for _, f := range strings.Fields(conn) {
		if v, ok := strings.CutPrefix(f, "sslmode="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

func loadCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// connString returns the connection string with the CA file added, so that
// pgconn verifies every host it tries (fallbacks included) against it.
func (c Config) connString() (string, error) {
	if c.CAFile == "" {
		return c.URL, nil
	}
	if strings.HasPrefix(c.URL, "postgres://") || strings.HasPrefix(c.URL, "postgresql://") {
		u, err := url.Parse(c.URL)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("sslrootcert", c.CAFile)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return c.URL + " sslrootcert='" + strings.ReplaceAll(strings.ReplaceAll(c.CAFile, `\`, `\\`), `'`, `\'`) + "'", nil
}

// connConfig parses the configuration into pgx's, with timeouts applied.
func (c Config) connConfig() (*pgx.ConnConfig, error) {
	cs, err := c.connString()
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(cs)
	if err != nil {
		return nil, err
	}
	if c.ConnectTimeout > 0 {
		cc.ConnectTimeout = c.ConnectTimeout
	}
	if c.Dial != nil {
		cc.DialFunc = c.Dial
	}
	if c.QueryTimeout > 0 {
		// The server gives up too, so a statement abandoned by a timed-out
		// client does not keep holding locks.
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(c.QueryTimeout.Milliseconds(), 10)
	}
	return cc, nil
}

// pingAfterIdle is how long a connection may sit idle before the pool
// checks it is alive when it is next acquired.
const pingAfterIdle = 10 * time.Second

// poolConfig builds the pgxpool configuration, IAM hook included.
func (c Config) poolConfig(ctx context.Context) (*pgxpool.Config, error) {
	cc, err := c.connConfig()
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, err
	}
	pc.ConnConfig = cc
	pc.MaxConns = c.MaxConns
	pc.MinConns = c.MinConns
	if pc.MaxConns < 1 {
		pc.MaxConns = 10
	}
	pc.HealthCheckPeriod = 15 * time.Second
	// pgxpool pings a connection idle for a second before handing it out,
	// which costs a webhook on a quiet instance a round trip; one used in
	// the last few seconds is all but certainly alive, and a query on one
	// that died fails before anything was sent, as ErrUnavailable.
	pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration >= pingAfterIdle }
	if c.IAMAuth {
		hook, err := c.iamHook(ctx)
		if err != nil {
			return nil, err
		}
		pc.BeforeConnect = hook
	}
	return pc, nil
}

// iamHook loads credentials from the default chain (the instance role on
// EC2) and returns a BeforeConnect hook setting a fresh token as password.
func (c Config) iamHook(ctx context.Context) (func(context.Context, *pgx.ConnConfig) error, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for IAM database authentication: %w", err)
	}
	return iamBeforeConnect(c.Region, awsCfg.Credentials), nil
}

// iamBeforeConnect signs a token for the host, port and user of each new
// connection: a token lives 15 minutes, a connection much longer, so it is
// made when connecting and never cached.
func iamBeforeConnect(region string, creds aws.CredentialsProvider) func(context.Context, *pgx.ConnConfig) error {
	return func(ctx context.Context, cc *pgx.ConnConfig) error {
		endpoint := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
		tok, err := auth.BuildAuthToken(ctx, endpoint, region, cc.User, creds)
		if err != nil {
			return fmt.Errorf("build RDS IAM token: %w", err)
		}
		cc.Password = tok
		return nil
	}
}
