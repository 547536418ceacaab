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

	"switchboard/runtime/service"
	"switchboard/runtime/ssmenv"
	"switchboard/storage/postgres"
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

const usage = `usage: switchboard [serve|work|migrate|version]

  serve    answer Twilio webhooks and the calls API, and run background work (default)
  work     run the background work that is due, then exit (for schedulers)
  migrate  apply the database migrations (DATABASE_URL), then exit
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
	case "serve", "work", "migrate":
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
	fmt.Fprintln(stderr, "switchboard", version, "configuration:")
	cfg.Print(stderr)
	for _, w := range m.Warnings {
		log.Warn(w)
	}
	switch {
	case environ["AWS_LAMBDA_RUNTIME_API"] != "":
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

func newLogger(cfg service.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", "switchboard")
}
