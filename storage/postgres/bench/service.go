package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/runtime"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage/localfs"
	"switchboard/storage/postgres"
)

// service is one switchboard instance serving on loopback, wired as
// cmd/switchboard wires it for DATABASE_URL, minus the worker pool: the
// figures are the webhooks' alone.
type service struct {
	url   string
	store *postgres.Store
	stop  context.CancelFunc
	done  chan struct{}
	dir   string
}

func startService(ctx context.Context, dbURL string, pool int) (*service, error) {
	store, err := postgres.Open(ctx, postgres.Config{
		URL: dbURL, MaxConns: int32(pool), ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		store.Close()
		return nil, err
	}
	blobs, err := localfs.New(dir)
	if err != nil {
		store.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	// Production logs JSON; formatting the lines is part of the cost.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := handlers.New(handlers.Config{
		PublicBaseURL: servicetest.PublicBaseURL,
		AuthToken:     servicetest.AuthToken,
		APITokens:     []string{servicetest.APIToken},
	}, handlers.Deps{Calls: store, Blobs: blobs, Assistant: assistant.NewScripted(), Log: log, Registry: prometheus.NewRegistry()})
	rc := runtime.Config{
		ListenAddr: "127.0.0.1:0", ReadTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second,
		IdleTimeout: 75 * time.Second, BodyLimit: 64 << 10, ShutdownTimeout: 5 * time.Second,
	}
	hs, err := runtime.Listen(rc, srv.App(runtime.FiberConfig(rc)), log)
	if err != nil {
		store.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	s := &service{url: "http://" + hs.Addr().String(), store: store, stop: stop, done: make(chan struct{}), dir: dir}
	go func() { _ = hs.Serve(sctx); close(s.done) }()
	return s, nil
}

func (s *service) close() {
	s.stop()
	<-s.done
	s.store.Close()
	os.RemoveAll(s.dir)
}
