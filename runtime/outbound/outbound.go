// Package outbound is the one HTTP client for switchboard's requests to the
// business: business tools the assistant calls and event deliveries. The
// business names the URLs, so the client treats them as hostile: it dials
// only addresses its policy allows, checked on the address actually dialled
// (after DNS, on every redirect, with no window for DNS rebinding); it never
// uses a proxy from the environment; every request is bounded in time and
// every response in size; and requests are signed per the Standard Webhooks
// specification so the receiver can tell them from forgeries.
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Config is the client's policy.
type Config struct {
	// AllowPrivate lets the client dial loopback and private ranges
	// (development, tests). Link-local and metadata addresses are refused
	// whatever it says.
	AllowPrivate bool
	// Timeout bounds a whole request, redirects and body included, when the
	// caller's context has no earlier deadline. Default 10s.
	Timeout time.Duration
	// MaxResponseBytes bounds the body read from a response. Default 64 KiB.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects are followed, each re-checked.
	// Default 3; negative follows none.
	MaxRedirects int
	// Resolver looks names up; net.DefaultResolver when nil. Tests give a
	// fixed table.
	Resolver Resolver
	// UserAgent is sent with every request.
	UserAgent string
}

// Resolver is the part of *net.Resolver the client uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Errors a request can end with besides *RefusedError and the context's.
var (
	// ErrResponseTooLarge: the body exceeded MaxResponseBytes.
	ErrResponseTooLarge = errors.New("outbound: response body too large")
	// ErrTooManyRedirects: more redirects than MaxRedirects.
	ErrTooManyRedirects = errors.New("outbound: too many redirects")
)

// Client sends requests to the business. Safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a client with cfg's policy.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 10
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 3
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "switchboard"
	}
	c := &Client{cfg: cfg}
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		// The last word: whatever resolved the name, this sees the address
		// the socket is about to connect to.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &RefusedError{Target: address, Class: Forbidden, Reason: "not an IP address"}
			}
			return checkAddr(ap.Addr(), cfg.AllowPrivate)
		},
	}
	c.http = &http.Client{
		Transport: &http.Transport{
			// Never a proxy: it would dial on our behalf, past the checks.
			Proxy:                  nil,
			DialContext:            c.dialContext(dialer),
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  cfg.Timeout,
			ExpectContinueTimeout:  time.Second,
			IdleConnTimeout:        60 * time.Second,
			MaxIdleConnsPerHost:    4,
			MaxResponseHeaderBytes: 16 << 10,
			ForceAttemptHTTP2:      true,
		},
		Timeout: cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return ErrTooManyRedirects
			}
			return checkURL(req.URL)
		},
	}
	return c
}

// dialContext resolves the name itself, refuses it when any of its
// addresses is refused (a name that also points inside is not trusted with
// its outside addresses), then dials the addresses one by one; the dialer's
// Control checks each again as it connects.
func (c *Client) dialContext(d *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else {
			ipNet := "ip"
			switch network {
			case "tcp4":
				ipNet = "ip4"
			case "tcp6":
				ipNet = "ip6"
			}
			if addrs, err = c.cfg.Resolver.LookupNetIP(ctx, ipNet, host); err != nil {
				return nil, err
			}
			if len(addrs) == 0 {
				return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
			}
		}
		for _, a := range addrs {
			if err := checkAddr(a, c.cfg.AllowPrivate); err != nil {
				if a.String() != host {
					err.(*RefusedError).Target = host + " (" + a.String() + ")"
				}
				return nil, err
			}
		}
		var errs []error
		for _, a := range addrs {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}

// checkURL refuses URLs the client never requests, before any lookup.
func checkURL(u *url.URL) error {
	if u.Scheme != "https" && u.Scheme != "http" {
		return &RefusedError{Target: u.Redacted(), Class: Forbidden, Reason: "only http and https URLs"}
	}
	if u.User != nil {
		return &RefusedError{Target: u.Redacted(), Class: Forbidden, Reason: "credentials in the URL"}
	}
	return checkHost(u.Hostname())
}

// CheckURL reports whether raw is a URL the client may request, as far as
// can be told without resolving it: http or https, no credentials, and a
// host that is a name, or an IP address its policy allows. Use it to
// refuse a bad URL when it is configured rather than when it is called.
func (c *Client) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return &RefusedError{Target: raw, Class: Forbidden, Reason: "not an absolute URL"}
	}
	if err := checkURL(u); err != nil {
		return err
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		return checkAddr(a, c.cfg.AllowPrivate)
	}
	return nil
}

// Request is one POST of a JSON body to the business.
type Request struct {
	URL  string
	Body []byte
	// Secret (whsec_…) signs the request; unsigned when empty.
	Secret string
	// ID is the webhook-id: the same for retries of one message so the
	// receiver can drop duplicates. A new one when empty.
	ID string
	// Timeout bounds this request below the client's Timeout; the
	// context's deadline bounds it too.
	Timeout time.Duration
	// Header holds extra headers.
	Header http.Header
}

// Response is the business's answer, its body read whole (bounded).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Duration is from sending the request to the end of the body.
	Duration time.Duration
}

// StatusError is an answer outside 2xx.
type StatusError struct {
	Status int
	Body   []byte // bounded, for the error message and logs
}

func (e *StatusError) Error() string {
	return "outbound: status " + strconv.Itoa(e.Status)
}

// Post sends r and reads the answer. Errors: *RefusedError (a target the
// policy refuses, at any hop), the context's (the deadline passed),
// ErrResponseTooLarge, ErrTooManyRedirects, *StatusError (a non-2xx answer,
// returned with the Response), or a network error.
func (c *Client) Post(ctx context.Context, r Request) (Response, error) {
	if err := c.CheckURL(r.URL); err != nil {
		return Response{}, err
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Response{}, fmt.Errorf("outbound: %w", err)
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if r.Secret != "" {
		s, err := NewSigner(r.Secret)
		if err != nil {
			return Response{}, err
		}
		if err := s.Sign(req.Header, r.ID, time.Now(), r.Body); err != nil {
			return Response{}, err
		}
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, unwrapURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Duration: time.Since(start)}
	if err != nil {
		return out, unwrapURLError(err)
	}
	if int64(len(body)) > c.cfg.MaxResponseBytes {
		out.Body = body[:c.cfg.MaxResponseBytes]
		return out, ErrResponseTooLarge
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, &StatusError{Status: resp.StatusCode, Body: out.Body}
	}
	return out, nil
}

// unwrapURLError returns the refusal or deadline inside net/http's
// *url.Error, so callers test them with errors.As / errors.Is and messages
// do not repeat the URL (which may carry a secret in its query).
func unwrapURLError(err error) error {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused
	}
	if errors.Is(err, ErrTooManyRedirects) {
		return ErrTooManyRedirects
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("outbound: %w", context.DeadlineExceeded)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("outbound: %w", context.Canceled)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("outbound: %w", context.DeadlineExceeded)
		}
		return fmt.Errorf("outbound: %w", ue.Err)
	}
	return err
}
