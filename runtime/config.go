// Package runtime runs the switchboard app: the HTTP listener with its
// timeouts and graceful drain, the background worker lifecycle, and (in
// runtime/lambda) the AWS Lambda entry point.
package runtime

import "time"

// Defaults for the HTTP server and its shutdown. The deployment is derived
// from these (deploy/terraform/invariants_test.go checks it): the ALB's idle
// timeout (60 s) stays below IdleTimeout; DrainDelay covers the ALB's
// health-check interval × (unhealthy threshold + 1), the longest it takes to
// stop routing to an instance whose /readyz turned 503; the target group's
// deregistration delay covers WriteTimeout; systemd's stop timeout covers
// DrainDelay + ShutdownTimeout.
const (
	DefaultListenAddr      = ":8080"
	DefaultReadTimeout     = 20 * time.Second
	DefaultWriteTimeout    = 20 * time.Second
	DefaultIdleTimeout     = 75 * time.Second
	DefaultDrainDelay      = 20 * time.Second
	DefaultShutdownTimeout = 20 * time.Second
	DefaultBodyLimit       = 64 << 10
)

// Config is the HTTP server's configuration, read from the environment.
type Config struct {
	ListenAddr      string        `env:"LISTEN_ADDR" envDefault:":8080"`
	ReadTimeout     time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"20s"`
	WriteTimeout    time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"20s"`
	IdleTimeout     time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"75s"`
	BodyLimit       int           `env:"HTTP_BODY_LIMIT" envDefault:"65536"`
	DrainDelay      time.Duration `env:"SHUTDOWN_DRAIN_DELAY" envDefault:"20s"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// TrustedProxies are the CIDRs (the ALB's subnets) whose X-Forwarded-For
	// is believed for client IPs; empty trusts no proxy header.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`
}
