package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// instance is one switchboard serving on loopback, built by runtime/service
// exactly as cmd/switchboard builds it for DATABASE_URL (recordings in a
// temporary DATA_DIR, the scripted assistant), with servicetest's
// credentials and no workers: the figures are the webhooks' alone.
type instance struct {
	url   string
	store storage.Store
	svc   *service.Service
	stop  context.CancelFunc
	done  sync.WaitGroup
	dir   string
}

// startInstance starts the service on dbURL with a connection pool of pool.
func startInstance(ctx context.Context, dbURL string, pool int) (*instance, error) {
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return nil, err
	}
	cfg := service.Defaults()
	cfg.PublicBaseURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken = servicetest.PublicBaseURL, servicetest.AccountSID, servicetest.AuthToken
	cfg.APITokens = []string{servicetest.APIToken}
	cfg.DataDir = dir
	cfg.HTTP.ListenAddr, cfg.HTTP.DrainDelay = "127.0.0.1:0", 0
	cfg.Worker.Size = 0
	cfg.Postgres.URL, cfg.Postgres.MaxConns = dbURL, int32(pool)
	if err := cfg.Validate(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("configuration: %w", err)
	}
	// Production logs JSON; formatting the lines is part of the cost.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc, err := service.New(ctx, cfg, log, service.Overrides{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := svc.Listen(); err != nil {
		svc.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	in := &instance{url: "http://" + svc.Addr().String(), store: svc.Calls, svc: svc, stop: stop, dir: dir}
	in.done.Go(func() { _ = svc.Run(sctx) })
	return in, nil
}

func (in *instance) close() {
	in.stop()
	in.done.Wait()
	in.svc.Close()
	os.RemoveAll(in.dir)
}
