// Package lifecycle notices that the EC2 instance is leaving its Auto
// Scaling group before SIGTERM says so, by polling the instance metadata's
// target lifecycle state (IMDSv2). The ASG sets it to Terminated (or
// Detached, Standby, Warmed:…) as soon as it decides to take the instance
// out, which is when the load balancer starts deregistering it: streamed
// calls must move then, not when the process is finally stopped.
//
// Source: "Retrieve the target lifecycle state through instance metadata",
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html
// (PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds, then
// GET /latest/meta-data/autoscaling/target-lifecycle-state with
// X-aws-ec2-metadata-token; "InService" while the instance stays).
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Config says whether and how to poll.
type Config struct {
	// PollInterval is how often the state is read; 0 turns polling off
	// (development, Lambda, anything outside an Auto Scaling group).
	PollInterval time.Duration `env:"LIFECYCLE_POLL_INTERVAL" envDefault:"0s"`
	// IMDSEndpoint is the instance metadata service. It is link-local and
	// reached by this client only, never by the outbound client.
	IMDSEndpoint string `env:"IMDS_ENDPOINT" envDefault:"http://169.254.169.254"`
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.PollInterval < 0 || c.PollInterval > 10*time.Minute {
		errs = append(errs, fmt.Errorf("LIFECYCLE_POLL_INTERVAL must be from 0 (off) to 10m, got %s", c.PollInterval))
	}
	if !strings.HasPrefix(c.IMDSEndpoint, "http://") {
		errs = append(errs, fmt.Errorf("IMDS_ENDPOINT must be an http:// URL, got %q", c.IMDSEndpoint))
	}
	return errors.Join(errs...)
}

// tokenTTL is the IMDSv2 session token's lifetime; it is renewed well
// before it runs out.
const tokenTTL = 6 * time.Hour

// maxBody bounds what is read from the metadata service.
const maxBody = 4096

// InService is the target state of an instance that stays.
const InService = "InService"

// Watcher polls the target lifecycle state.
type Watcher struct {
	cfg   Config
	log   *slog.Logger
	http  *http.Client
	token string
	until time.Time
}

// New returns a Watcher for cfg.
func New(cfg Config, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{cfg: cfg, log: log, http: &http.Client{Timeout: 2 * time.Second,
		// The metadata service never redirects; following one would leave it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Run polls until ctx ends or the target state is anything but InService;
// then it calls leaving once, with that state, and returns. Errors (the
// service unreachable, not in an Auto Scaling group) are logged and
// polling goes on: only a state read says the instance leaves.
func (w *Watcher) Run(ctx context.Context, leaving func(state string)) {
	if w.cfg.PollInterval <= 0 {
		return
	}
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	failing := false
	for {
		state, err := w.State(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				w.log.Warn("lifecycle: cannot read the target lifecycle state; still polling", "err", err.Error())
			}
			failing = true
		case err == nil && state != InService:
			w.log.Info("lifecycle: the Auto Scaling group is taking this instance out", "target_state", state)
			leaving(state)
			return
		case err == nil:
			if failing {
				w.log.Info("lifecycle: target lifecycle state readable again", "target_state", state)
			}
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// State reads the target lifecycle state once.
func (w *Watcher) State(ctx context.Context) (string, error) {
	if w.token == "" || time.Now().After(w.until) {
		if err := w.renew(ctx); err != nil {
			return "", err
		}
	}
	state, status, err := w.get(ctx)
	if status == http.StatusUnauthorized {
		// The token was refused (the service restarted): a new one, once.
		if err := w.renew(ctx); err != nil {
			return "", err
		}
		state, _, err = w.get(ctx)
	}
	return state, err
}

func (w *Watcher) renew(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, w.cfg.IMDSEndpoint+"/latest/api/token", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", fmt.Sprint(int(tokenTTL.Seconds())))
	body, status, err := w.do(req)
	if err != nil {
		return fmt.Errorf("IMDSv2 token: %w", err)
	}
	if status != http.StatusOK || body == "" {
		return fmt.Errorf("IMDSv2 token: HTTP %d", status)
	}
	w.token, w.until = body, time.Now().Add(tokenTTL-10*time.Minute)
	return nil
}

func (w *Watcher) get(ctx context.Context) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.cfg.IMDSEndpoint+"/latest/meta-data/autoscaling/target-lifecycle-state", nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("X-aws-ec2-metadata-token", w.token)
	body, status, err := w.do(req)
	if err != nil {
		return "", status, fmt.Errorf("target lifecycle state: %w", err)
	}
	if status != http.StatusOK {
		return "", status, fmt.Errorf("target lifecycle state: HTTP %d", status)
	}
	state := strings.TrimSpace(body)
	if state == "" || len(state) > 64 {
		return "", status, fmt.Errorf("target lifecycle state: unexpected answer of %d bytes", len(body))
	}
	return state, status, nil
}

func (w *Watcher) do(req *http.Request) (string, int, error) {
	resp, err := w.http.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return "", resp.StatusCode, err
	}
	if len(b) > maxBody {
		return "", resp.StatusCode, errors.New("answer too large")
	}
	return string(b), resp.StatusCode, nil
}
