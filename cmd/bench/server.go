package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"

	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// The service runs in a process of its own (this binary again, with
// -serve), as in production: its CPU time is its own, apart from the load
// generator's, and its garbage collector sees only its own heap. The two
// talk over the child's standard input and output, one line each way:
//
//	parent → child: "profile <file>" | "stop"      child → parent: "ok" | "error <text>"
//
// and the child stops when its standard input closes (the parent exited).

// serviceProc is the parent's handle on the service's process.
type serviceProc struct {
	url string
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startService starts the service on dbURL with a connection pool of pool
// and writes batches of webhook writes at once.
func startService(dbURL string, pool, writes int) (*serviceProc, error) {
	return startProc("-serve", "-db", dbURL, "-pool", strconv.Itoa(pool), "-write-concurrency", strconv.Itoa(writes))
}

// startProc starts this binary with args as a child that serves HTTP and
// says where on its first line.
func startProc(args ...string) (*serviceProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serviceProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	line, err := p.read()
	if err != nil {
		p.close()
		return nil, fmt.Errorf("service: %w", err)
	}
	u, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		p.close()
		return nil, fmt.Errorf("service said %q", line)
	}
	p.url = u
	return p, nil
}

func (p *serviceProc) pid() int { return p.cmd.Process.Pid }

func (p *serviceProc) read() (string, error) {
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return "", err
		}
		return "", io.ErrUnexpectedEOF
	}
	return p.out.Text(), nil
}

// command sends one command and waits for its answer.
func (p *serviceProc) command(c string) error {
	if _, err := fmt.Fprintln(p.in, c); err != nil {
		return err
	}
	line, err := p.read()
	if err != nil {
		return err
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return errors.New(msg)
	}
	return nil
}

// profile starts a CPU profile of the service into file; the returned
// function stops it.
func (p *serviceProc) profile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	if err := p.command("profile " + file); err != nil {
		return nil, err
	}
	return func() {
		if err := p.command("stop"); err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
		}
	}, nil
}

func (p *serviceProc) close() error {
	p.in.Close()
	return p.cmd.Wait()
}

// serve is the child: the service built by runtime/service exactly as
// cmd/switchboard builds it for DATABASE_URL (production logging as JSON
// lines, here written to /dev/null; recordings in a temporary DATA_DIR;
// the scripted assistant), with servicetest's credentials and no workers:
// the figures are the webhooks' alone.
func serve(dbURL string, pool, writes int) error {
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := service.Defaults()
	cfg.PublicBaseURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken = servicetest.PublicBaseURL, servicetest.AccountSID, servicetest.AuthToken
	cfg.APITokens = []string{servicetest.APIToken}
	cfg.DataDir = dir
	cfg.HTTP.ListenAddr, cfg.HTTP.DrainDelay = "127.0.0.1:0", 0
	cfg.Worker.Size = 0
	cfg.Postgres.URL, cfg.Postgres.MaxConns, cfg.Postgres.WriteConcurrency = dbURL, int32(pool), writes
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(devnull, &slog.HandlerOptions{Level: level})).With("service", "switchboard")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	svc, err := service.New(ctx, cfg, log, service.Overrides{})
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Listen(); err != nil {
		return err
	}
	var running sync.WaitGroup
	running.Go(func() { _ = svc.Run(ctx) })
	defer running.Wait()
	defer stop()
	fmt.Printf("listening http://%s\n", svc.Addr())

	var profile *os.File
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		err := error(nil)
		switch {
		case cmd == "profile" && profile == nil:
			if profile, err = os.Create(arg); err == nil {
				if err = pprof.StartCPUProfile(profile); err != nil {
					profile.Close()
					profile = nil
				}
			}
		case cmd == "stop" && profile != nil:
			pprof.StopCPUProfile()
			err = profile.Close()
			profile = nil
		default:
			err = fmt.Errorf("unexpected command %q", in.Text())
		}
		if err != nil {
			fmt.Printf("error %v\n", err)
		} else {
			fmt.Println("ok")
		}
	}
	return nil
}
