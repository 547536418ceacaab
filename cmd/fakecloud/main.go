// Command fakecloud serves, in one process and on one port, stand-ins for
// the two cloud services switchboard's archive pipeline talks to, so the
// pipeline can be run and measured on a laptop without an account anywhere:
//
//   - Twilio's recording media: GET /2010-04-01/Accounts/{AC}/Recordings/{RE}.wav
//     (or without the extension) answers a WAV file of -recording-size bytes,
//     generated while it is sent (so any size costs no memory here) from the
//     recording SID alone: the same SID always gives the same bytes.
//     DELETE …/Recordings/{RE}.json answers 204, then 404 for that SID.
//     With -twilio-auth-token set, requests need HTTP Basic auth with that
//     token as the password, as Twilio's "Enforce HTTP Auth on Media URLs" does.
//   - S3, path-style, at every other path: github.com/johannesboyne/gofakes3
//     with objects kept in memory (so this process grows with what it
//     stores; delete what you no longer need) and the -bucket bucket created.
//   - GET /_fakecloud/recordings/{RE}/sha256 answers the hex SHA-256 of that
//     recording's media, for tools that check what was archived.
//
// Run it next to the dev server, which then archives every completed
// recording into the fake bucket (any AWS key works; none is checked):
//
//	go run ./cmd/fakecloud -addr 127.0.0.1:9300
//	TWILIO_API_BASE_URL=http://127.0.0.1:9300 S3_BUCKET=switchboard-dev \
//	S3_ENDPOINT=http://127.0.0.1:9300 AWS_REGION=us-east-1 \
//	AWS_ACCESS_KEY_ID=dev AWS_SECRET_ACCESS_KEY=dev make run
//
// The archive benchmark (e2e, BenchmarkArchive) starts it as a
// separate process so that the archiving process's memory is measured alone.
// Once listening, fakecloud prints one line, FAKECLOUD_URL=http://host:port,
// on standard output; logs go to standard error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakecloud:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9300", "listen address (port 0 picks a free one)")
	bucket := flag.String("bucket", "switchboard-dev", "S3 bucket to create")
	size := flag.String("recording-size", "1MiB", "size of every recording's media, in bytes or with a KiB, MiB or GiB suffix")
	token := flag.String("twilio-auth-token", "", "if set, media requests need HTTP Basic auth with this password")
	flag.Parse()

	n, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("-recording-size: %w", err)
	}
	if n < wavHeaderSize {
		return fmt.Errorf("-recording-size must be at least %d bytes (a WAV header)", wavHeaderSize)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	backend := s3mem.New()
	if err := backend.CreateBucket(*bucket); err != nil {
		return fmt.Errorf("creating bucket %s: %w", *bucket, err)
	}
	s3 := gofakes3.New(backend, gofakes3.WithAutoBucket(true)).Server()
	media := newMedia(n, *token)

	mux := http.NewServeMux()
	mux.Handle("/2010-04-01/", media)
	mux.HandleFunc("GET /_fakecloud/recordings/{sid}/sha256", media.serveSHA256)
	mux.Handle("/", s3)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("FAKECLOUD_URL=http://%s\n", ln.Addr())
	log.Info("fakecloud serving", "url", "http://"+ln.Addr().String(), "bucket", *bucket, "recording_bytes", n)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseSize reads "1048576", "512KiB", "8MiB" or "1GiB".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}
