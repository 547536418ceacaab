package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// OIDCHeader is the header in which an Application Load Balancer that
// authenticated the request asserts who made it.
const OIDCHeader = "X-Amzn-Oidc-Data"

// maxOIDCHeader bounds the assertion read from a request; the load
// balancer's own limit on claims is 11 KB.
const maxOIDCHeader = 16 << 10

// Identity is a person the load balancer signed in.
type Identity struct {
	Subject string
	Email   string
	Name    string
}

// Errors of Verify.
var (
	ErrNoIdentity  = errors.New("no x-amzn-oidc-data header: the request did not come through the load balancer's authenticate-oidc rule")
	ErrBadIdentity = errors.New("x-amzn-oidc-data is not a valid assertion of this load balancer")
	ErrNotAllowed  = errors.New("signed in, but neither the e-mail domain nor a group is on the console's allow-list")
	ErrKeys        = errors.New("the load balancer's public key could not be fetched")
)

// Verifier checks the load balancer's assertions: ES256 over the header
// and claims as sent (base64url with padding, which generic JWT libraries
// refuse), by the key named in the header's kid, fetched from the
// region's public-key endpoint and kept; signed by this load balancer;
// not expired; and of a person on the allow-list.
type Verifier struct {
	cfg    OIDCConfig
	keyURL string
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	failed  map[string]time.Time // kid → when a fetch may be tried again
	fetches []time.Time          // recent fetches, for the rate limit
	flight  singleflight.Group
}

// Key cache bounds: the load balancer rotates among a few keys, so a
// handful of entries serve it for ever; forged kids cannot make the
// cache grow, nor make this service fetch more than fetchBurst keys a
// minute from the endpoint.
const (
	maxKeys      = 32
	maxFailed    = 256
	fetchBurst   = 10
	fetchRetry   = time.Minute
	fetchTimeout = 5 * time.Second
	maxKeyBody   = 4 << 10
)

// NewVerifier returns a Verifier for cfg. client fetches the keys (nil:
// a client with a short timeout); now is the clock (nil: time.Now).
func NewVerifier(cfg OIDCConfig, client *http.Client, now func() time.Time) (*Verifier, error) {
	region, err := albRegion(cfg.ALBARN)
	if err != nil {
		return nil, fmt.Errorf("CONSOLE_OIDC_ALB_ARN: %w", err)
	}
	keyURL := cfg.KeyURL
	if keyURL == "" {
		keyURL = "https://public-keys.auth.elb." + region + ".amazonaws.com/"
	}
	if !strings.HasSuffix(keyURL, "/") {
		keyURL += "/"
	}
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{cfg: cfg, keyURL: keyURL, client: client, now: now,
		keys: map[string]*ecdsa.PublicKey{}, failed: map[string]time.Time{}}, nil
}

// albHeader is the assertion's JOSE header, with the load balancer's
// additions.
type albHeader struct {
	Alg    string          `json:"alg"`
	Kid    string          `json:"kid"`
	Signer string          `json:"signer"`
	Exp    json.RawMessage `json:"exp"`
}

// Verify checks the header's value and returns the person it names.
func (v *Verifier) Verify(ctx context.Context, data string) (Identity, error) {
	if data == "" {
		return Identity{}, ErrNoIdentity
	}
	if len(data) > maxOIDCHeader {
		return Identity{}, ErrBadIdentity
	}
	parts := strings.Split(data, ".")
	if len(parts) != 3 {
		return Identity{}, ErrBadIdentity
	}
	rawHeader, err1 := decodeSegment(parts[0])
	rawClaims, err2 := decodeSegment(parts[1])
	sig, err3 := decodeSegment(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return Identity{}, ErrBadIdentity
	}
	var h albHeader
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return Identity{}, ErrBadIdentity
	}
	// Everything that costs nothing comes before the key: a forged
	// assertion of another signer never makes this service fetch one.
	if h.Alg != "ES256" || h.Signer != v.cfg.ALBARN || !validKid(h.Kid) || len(sig) != 64 {
		return Identity{}, ErrBadIdentity
	}
	now := v.now()
	if exp, ok := numericTime(h.Exp); ok && !now.Before(exp) {
		return Identity{}, ErrBadIdentity
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return Identity{}, err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key, digest[:], r, s) {
		return Identity{}, ErrBadIdentity
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(rawClaims, &claims); err != nil {
		return Identity{}, ErrBadIdentity
	}
	exp, hasExp := numericTime(claims["exp"])
	if _, headerExp := numericTime(h.Exp); !hasExp && !headerExp {
		return Identity{}, ErrBadIdentity // an assertion must expire
	}
	if hasExp && !now.Before(exp) {
		return Identity{}, ErrBadIdentity
	}
	id := Identity{Subject: claimString(claims["sub"]), Email: claimString(claims["email"]), Name: claimString(claims["name"])}
	if id.Subject == "" && id.Email == "" {
		return Identity{}, ErrBadIdentity
	}
	if verified, ok := claims["email_verified"]; ok && string(verified) == "false" {
		id.Email = "" // an unverified address admits no one by its domain
	}
	if !v.allowed(id, claims) {
		return id, ErrNotAllowed
	}
	return id, nil
}

// allowed applies the allow-list: the e-mail address's domain, or one of
// the person's groups.
func (v *Verifier) allowed(id Identity, claims map[string]json.RawMessage) bool {
	if at := strings.LastIndexByte(id.Email, '@'); at > 0 {
		domain := id.Email[at+1:]
		for _, d := range v.cfg.AllowedDomains {
			if strings.EqualFold(strings.TrimSpace(d), domain) {
				return true
			}
		}
	}
	if len(v.cfg.AllowedGroups) == 0 {
		return false
	}
	name := v.cfg.GroupsClaim
	if name == "" {
		name = "groups"
	}
	var groups []string
	if err := json.Unmarshal(claims[name], &groups); err != nil {
		if g := claimString(claims[name]); g != "" {
			groups = strings.Fields(strings.ReplaceAll(g, ",", " "))
		}
	}
	for _, g := range groups {
		if slices.Contains(v.cfg.AllowedGroups, g) {
			return true
		}
	}
	return false
}

// key returns the public key kid names: from the cache, else fetched
// once however many requests ask for it at the same time.
func (v *Verifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	v.mu.Lock()
	if k, ok := v.keys[kid]; ok {
		v.mu.Unlock()
		return k, nil
	}
	now := v.now()
	if until, ok := v.failed[kid]; ok && now.Before(until) {
		v.mu.Unlock()
		return nil, ErrBadIdentity
	}
	v.mu.Unlock()
	k, err, _ := v.flight.Do(kid, func() (any, error) {
		if !v.takeFetch(now) {
			return nil, ErrKeys
		}
		k, err := v.fetch(ctx, kid)
		v.mu.Lock()
		defer v.mu.Unlock()
		if err != nil {
			if len(v.failed) >= maxFailed {
				clear(v.failed)
			}
			v.failed[kid] = now.Add(fetchRetry)
			return nil, err
		}
		if len(v.keys) >= maxKeys {
			clear(v.keys)
		}
		v.keys[kid] = k
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	return k.(*ecdsa.PublicKey), nil
}

// takeFetch allows at most fetchBurst key fetches a minute.
func (v *Verifier) takeFetch(now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	recent := v.fetches[:0]
	for _, t := range v.fetches {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	v.fetches = recent
	if len(v.fetches) >= fetchBurst {
		return false
	}
	v.fetches = append(v.fetches, now)
	return true
}

// fetch reads the PEM-encoded P-256 key kid from the endpoint. A key the
// endpoint does not have is ErrBadIdentity (a forged kid); an endpoint
// that cannot be reached is ErrKeys.
func (v *Verifier) fetch(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.keyURL+url.PathEscape(kid), nil)
	if err != nil {
		return nil, ErrKeys
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeys, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrKeys, err)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return nil, ErrBadIdentity
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: status %d", ErrKeys, resp.StatusCode)
	case len(body) > maxKeyBody:
		return nil, fmt.Errorf("%w: key larger than %d bytes", ErrKeys, maxKeyBody)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		return nil, fmt.Errorf("%w: not PEM", ErrKeys)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeys, err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: not a P-256 key", ErrKeys)
	}
	return k, nil
}

// decodeSegment decodes base64url with or without the padding the load
// balancer adds.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// validKid accepts the key ids the load balancer uses (UUIDs) and
// anything as plain, so a kid cannot change the key URL's path.
func validKid(kid string) bool {
	if kid == "" || len(kid) > 128 {
		return false
	}
	for _, c := range kid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// numericTime reads a JWT NumericDate (seconds since the epoch), which
// the load balancer's header may carry as a number or a string.
func numericTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		n = json.Number(s)
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func claimString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil || len(s) > 320 {
		return ""
	}
	return s
}
