package console

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sign-in modes (Config.Auth).
const (
	// AuthToken: people sign in with one of the API tokens.
	AuthToken = "token"
	// AuthOIDC: the load balancer signs people in with the company's
	// identity provider and asserts who they are in x-amzn-oidc-data.
	AuthOIDC = "oidc"
)

// MinSessionKey is the shortest CONSOLE_SESSION_KEY accepted, in bytes.
const MinSessionKey = 32

// Config is the console's configuration, read from the environment.
type Config struct {
	// SessionKey signs session cookies and CSRF tokens. Every instance
	// must have the same key: a session opened on one is good on all.
	// Changing it ends every session.
	SessionKey string `env:"CONSOLE_SESSION_KEY" secret:"true"`
	// SessionTTL is how long a session lasts after sign-in.
	SessionTTL time.Duration `env:"CONSOLE_SESSION_TTL" envDefault:"12h"`
	// Auth is how people sign in: token or oidc.
	Auth string `env:"CONSOLE_AUTH" envDefault:"token"`
	OIDC OIDCConfig
}

// OIDCConfig trusts the identity an Application Load Balancer asserts
// after its authenticate-oidc action (Auth = oidc).
type OIDCConfig struct {
	// ALBARN is the load balancer's ARN: only tokens it signed are taken.
	// Its region names the public-key endpoint.
	ALBARN string `env:"CONSOLE_OIDC_ALB_ARN"`
	// AllowedDomains admits people whose e-mail address is in one of
	// these domains; AllowedGroups admits members of one of these groups
	// (the GroupsClaim claim). One of the two lists must be set.
	AllowedDomains []string `env:"CONSOLE_OIDC_ALLOWED_DOMAINS" envSeparator:","`
	AllowedGroups  []string `env:"CONSOLE_OIDC_ALLOWED_GROUPS" envSeparator:","`
	// GroupsClaim names the claim holding the groups (a list of strings,
	// or one string).
	GroupsClaim string `env:"CONSOLE_OIDC_GROUPS_CLAIM" envDefault:"groups"`
	// KeyURL is where the load balancer's public keys are fetched, the
	// key id appended; empty means the region's Elastic Load Balancing
	// endpoint, https://public-keys.auth.elb.REGION.amazonaws.com/.
	KeyURL string `env:"CONSOLE_OIDC_KEY_URL"`
	// LogoutURL, when set, is where Sign out sends people after it has
	// expired the load balancer's session cookies: the identity
	// provider's logout endpoint, so the next visit asks them again.
	LogoutURL string `env:"CONSOLE_OIDC_LOGOUT_URL"`
}

// Validate checks the settings and returns every problem at once.
// production requires CONSOLE_SESSION_KEY.
func (c Config) Validate(production bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.SessionKey == "" && production:
		add("CONSOLE_SESSION_KEY is required when SWITCHBOARD_ENV=production (every instance must sign sessions with the same key)")
	case c.SessionKey != "" && len(c.SessionKey) < MinSessionKey:
		add("CONSOLE_SESSION_KEY must be at least %d characters (e.g. openssl rand -base64 48)", MinSessionKey)
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
		add("CONSOLE_SESSION_TTL must be from 1m to 720h, got %s", c.SessionTTL)
	}
	switch c.Auth {
	case AuthToken:
	case AuthOIDC:
		if err := c.OIDC.validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		add("CONSOLE_AUTH must be token or oidc, got %q", c.Auth)
	}
	return errors.Join(errs...)
}

func (c OIDCConfig) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := albRegion(c.ALBARN); err != nil {
		add("CONSOLE_OIDC_ALB_ARN: %v", err)
	}
	if len(c.AllowedDomains) == 0 && len(c.AllowedGroups) == 0 {
		add("CONSOLE_AUTH=oidc needs CONSOLE_OIDC_ALLOWED_DOMAINS or CONSOLE_OIDC_ALLOWED_GROUPS: without an allow-list anyone the identity provider knows would be let in")
	}
	for _, d := range c.AllowedDomains {
		if d = strings.TrimSpace(d); d == "" || strings.ContainsAny(d, "@ /") {
			add("CONSOLE_OIDC_ALLOWED_DOMAINS entries are domains (example.com), got %q", d)
		}
	}
	if c.KeyURL != "" && !strings.HasPrefix(c.KeyURL, "https://") && !strings.HasPrefix(c.KeyURL, "http://") {
		add("CONSOLE_OIDC_KEY_URL must be an http(s) URL, got %q", c.KeyURL)
	}
	if c.LogoutURL != "" && !strings.HasPrefix(c.LogoutURL, "https://") {
		add("CONSOLE_OIDC_LOGOUT_URL must be an https URL, got %q", c.LogoutURL)
	}
	return errors.Join(errs...)
}

// albRegion returns the region of an Application Load Balancer ARN
// (arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/name/id).
func albRegion(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" || parts[3] == "" ||
		!strings.HasPrefix(parts[5], "loadbalancer/app/") {
		return "", errors.New("must be an Application Load Balancer ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID)")
	}
	for _, c := range parts[3] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", errors.New("has a malformed region")
		}
	}
	return parts[3], nil
}
