// Package runtime runs the switchboard app: the HTTP listener with its
// timeouts and graceful drain, the background worker lifecycle, and (in
// runtime/lambda) the AWS Lambda entry point.
package runtime

import (
	"time"

	"github.com/caarlos0/env/v11"
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

// DefaultConfig is the configuration with every default applied, for
// callers that do not read the environment. The defaults are the env tags'
// and nowhere else. The deployment is derived from them
// (deploy/terraform/invariants_test.go checks it): the ALB's idle timeout
// (60 s) stays below IdleTimeout; DrainDelay covers the ALB's health-check
// interval × (unhealthy threshold + 1), the longest it takes to stop routing
// to an instance whose /readyz turned 503; the target group's deregistration
// delay covers WriteTimeout; systemd's stop timeout covers DrainDelay +
// ShutdownTimeout.
func DefaultConfig() Config {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		panic("runtime: the Config defaults do not parse: " + err.Error())
	}
	return c
}
