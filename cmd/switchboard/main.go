// Command switchboard is the one binary of the service: `serve` (the
// default) answers Twilio's webhooks and the calls API and runs background
// work; `version` prints the build. Under AWS Lambda it runs the same app
// as a function.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"switchboard/handlers"
	"switchboard/runtime/service"
	"switchboard/runtime/ssmenv"
	"switchboard/storage/postgres"
	"switchboard/storage/redact"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		os.Exit(1)
	}
}

func environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

const usage = `usage: switchboard [serve|work|migrate|config|version]

  serve    answer Twilio webhooks and the calls API, and run background work (default)
  work     run the background work that is due, then exit (for schedulers)
  migrate  apply the database migrations (DATABASE_URL), then exit
  config   print the whole effective configuration (secrets masked), then exit
  version  print the version

Under AWS Lambda (AWS_LAMBDA_RUNTIME_API set) the binary runs as the function.

Configuration comes from environment variables; see README.md.`

func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "switchboard", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "serve", "work", "migrate", "config":
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	// Parameters under CONFIG_SSM_PATH (instances on AWS) become variables
	// before the configuration is parsed; variables already set win.
	fromSSM, err := ssmenv.Apply(ctx, ssmenv.Map(environ), ssmenv.NewClient)
	if err != nil {
		return err
	}
	cfg, err := service.LoadConfig(environ)
	if err != nil {
		return err
	}
	if cmd == "config" {
		fmt.Fprintln(stdout, "switchboard", version, "configuration:")
		cfg.Print(stdout)
		return nil
	}
	lambda := environ["AWS_LAMBDA_RUNTIME_API"] != ""
	cfg.Serverless = lambda
	if lambda && cfg.CallMode == handlers.ModeRelay {
		return errors.New("CALL_MODE=relay cannot run under AWS Lambda: a ConversationRelay call holds one WebSocket for its whole length, which a Lambda function cannot serve; run the HTTP server (EC2) for relay calls or set CALL_MODE=gather")
	}
	log := newLogger(cfg, stderr)
	if len(fromSSM) > 0 {
		log.Info("configuration loaded from Parameter Store", "path", environ[ssmenv.PathVariable], "variables", fromSSM)
	}
	if cmd == "migrate" {
		if cfg.Postgres.URL == "" {
			return errors.New("migrate: DATABASE_URL is not set")
		}
		if err := postgres.Migrate(ctx, cfg.Postgres); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		log.Info("database migrated")
		return nil
	}
	m, err := service.New(ctx, cfg, log, service.Overrides{})
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintln(stderr, "switchboard", version, "— settings that differ from their defaults (all of them: switchboard config):")
	if cfg.PrintChanged(stderr) == 0 {
		fmt.Fprintln(stderr, "  (none: every setting has its default)")
	}
	for _, w := range m.Warnings {
		log.Warn(w)
	}
	switch {
	case lambda:
		log.Info("running as an AWS Lambda function")
		awslambda.Start(m.LambdaFunction())
		return nil
	case cmd == "work":
		n := m.Workers.Drain(ctx)
		log.Info("background work done", "items", n)
		return nil
	}
	if err := m.Listen(); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// newLogger logs JSON for machines and readable lines for a person at a
// terminal: LOG_FORMAT=auto picks text when w is a terminal.
func newLogger(cfg service.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if format == "text" {
		h = newTextHandler(w, level)
	}
	if cfg.RedactsLogs() {
		h = redact.NewHandler(h)
	}
	log := slog.New(h)
	if format == "text" {
		return log
	}
	return log.With("service", "switchboard")
}
