// Command replay sends captured webhook fixtures (handlers/fixture) to
// switchboard and compares every answer with its golden file: against a
// running server (--url), re-signing each request for it, or in-process
// through the HTTP runtime or the Lambda adapter, so the same captured
// traffic pins the webhooks' behaviour in every runtime.
//
//	replay [flags] DIR...
//
// A DIR is a scenario folder (it holds NNN-name.http files) or any folder
// above some, such as testdata/webhooks or a CAPTURE_DIR; scenarios run in
// name order, each one's requests in sequence. In-process, every scenario
// gets a fresh app, so scenarios cannot affect one another.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"switchboard/handlers/fixture"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: replay [flags] DIR...

Replays captured webhook fixtures in order and compares each response with
its .golden file. Without --url the fixtures run in-process (--runtime).
Exit status: 0 when every response matches, 1 on any mismatch or error,
2 on bad usage.

`

// options are the command's flags.
type options struct {
	url, publicURL, authToken, runtime string
	update                             bool
	timeout                            time.Duration
	dirs                               []string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "", "send the requests to the server at this URL instead of running in-process")
	fs.StringVar(&o.publicURL, "public-url", "", "the server's PUBLIC_BASE_URL, which signatures are computed for (default: --url)")
	fs.StringVar(&o.authToken, "auth-token", fixture.DevAuthToken, "Twilio auth token to re-sign requests with for --url; empty sends signatures as captured")
	fs.StringVar(&o.runtime, "runtime", "http", "in-process runtime: "+strings.Join(runtimeNames, ", "))
	fs.BoolVar(&o.update, "update", false, "rewrite the .golden files with the responses received")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Second, "limit for one request")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.dirs = fs.Args()
	if len(o.dirs) == 0 {
		fs.Usage()
		return o, errors.New("no fixture folder given")
	}
	if o.url != "" && !strings.HasPrefix(o.url, "http://") && !strings.HasPrefix(o.url, "https://") {
		return o, fmt.Errorf("--url must be an http(s) URL, got %q", o.url)
	}
	return o, nil
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 2
	}
	scenarios, err := findScenarios(o.dirs)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 1
	}
	var newTarget func() (fixture.Target, func(), error)
	if o.url != "" {
		t := fixture.HTTPTarget{URL: o.url, BaseURL: o.publicURL, AuthToken: o.authToken, Client: &http.Client{}}
		newTarget = func() (fixture.Target, func(), error) { return t, func() {}, nil }
	} else {
		rt, ok := runtimes[o.runtime]
		if !ok {
			fmt.Fprintf(stderr, "replay: unknown runtime %q (want %s)\n", o.runtime, strings.Join(runtimeNames, ", "))
			return 2
		}
		newTarget = rt
	}
	r := &reporter{out: stdout, progress: isTerminal(stdout) && countFixtures(scenarios) >= 20, total: countFixtures(scenarios)}
	for _, sc := range scenarios {
		if err := replayScenario(ctx, o, sc, newTarget, r); err != nil {
			r.fail(sc.name, "", fmt.Sprintf("error: %v", err), "")
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.summary()
	if r.failed > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// scenario is one folder of fixtures.
type scenario struct {
	name     string
	fixtures []fixture.Fixture
}

// findScenarios expands each DIR into the folders under it (itself
// included) that hold fixtures, in name order.
func findScenarios(dirs []string) ([]scenario, error) {
	var out []scenario
	for _, root := range dirs {
		var found []string
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if strings.HasSuffix(d.Name(), ".http") {
				dir := filepath.Dir(path)
				if len(found) == 0 || found[len(found)-1] != dir {
					found = append(found, dir)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no fixtures (NNN-name.http files) found", root)
		}
		sort.Strings(found)
		for _, dir := range found {
			fx, err := fixture.ReadDir(dir)
			if err != nil {
				return nil, err
			}
			if len(fx) == 0 {
				continue
			}
			name := dir
			if rel, err := filepath.Rel(root, dir); err == nil && rel != "." {
				name = rel
			} else {
				name = filepath.Base(dir)
			}
			out = append(out, scenario{name: filepath.ToSlash(name), fixtures: fx})
		}
	}
	return out, nil
}

func countFixtures(s []scenario) int {
	n := 0
	for _, sc := range s {
		n += len(sc.fixtures)
	}
	return n
}

// replayScenario sends one folder's requests in order to a fresh target and
// reports each answer.
func replayScenario(ctx context.Context, o options, sc scenario, newTarget func() (fixture.Target, func(), error), r *reporter) error {
	target, closeTarget, err := newTarget()
	if err != nil {
		return err
	}
	defer closeTarget()
	for _, fx := range sc.fixtures {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.step(sc.name + "/" + fx.Name)
		rctx, cancel := context.WithTimeout(ctx, o.timeout)
		got, err := target.Send(rctx, fx.Request)
		cancel()
		if err != nil {
			r.fail(sc.name, fx.Name, fmt.Sprintf("error: %v", err), "")
			continue
		}
		switch {
		case o.update:
			if err := fixture.WriteGolden(fx.GoldenPath(), got); err != nil {
				r.fail(sc.name, fx.Name, fmt.Sprintf("error: %v", err), "")
				continue
			}
			r.pass(sc.name, fx.Name, got.Status, "updated")
		case fx.Golden == nil:
			r.fail(sc.name, fx.Name, fmt.Sprintf("%d, no golden file (run with -update)", got.Status), "")
		default:
			if d := fixture.Diff(*fx.Golden, got); d != "" {
				r.fail(sc.name, fx.Name, fmt.Sprintf("%d (want %d)", got.Status, fx.Golden.Status), d)
				continue
			}
			r.pass(sc.name, fx.Name, got.Status, "")
		}
	}
	return nil
}
