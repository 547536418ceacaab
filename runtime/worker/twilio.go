package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/storage"
)

// Twilio is the part of Twilio's REST API the worker uses: downloading and
// deleting recording media. Requests go only to BaseURL's origin, with HTTP
// Basic auth (required once "Enforce HTTP Auth on Media URLs" is on).
type Twilio struct {
	BaseURL    string // https://api.twilio.com, or a fake in tests
	AccountSID string // for Basic auth; the recording's account when empty
	AuthToken  string
	HTTP       *http.Client
}

// NewTwilio returns a client with timeouts suited to large media downloads:
// a bounded wait for the response headers, no bound on the body, which is
// bounded by the work's lease instead.
func NewTwilio(baseURL, accountSID, authToken string) *Twilio {
	t := &Twilio{BaseURL: strings.TrimRight(baseURL, "/"), AccountSID: accountSID, AuthToken: authToken}
	base, _ := url.Parse(t.BaseURL)
	t.HTTP = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		},
		// Twilio answers media requests with a redirect to its storage.
		// Follow only to HTTPS (or back to the configured origin, for
		// tests over plain HTTP); Go drops the Authorization header when
		// the host changes.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" && (base == nil || req.URL.Host != base.Host) {
				return fmt.Errorf("refusing redirect to %s", req.URL.Redacted())
			}
			return nil
		},
	}
	return t
}

// statusError is a non-success answer from Twilio.
type statusError struct {
	Op     string
	Status int
}

func (e *statusError) Error() string {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("%s: Twilio answered %d: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN", e.Op, e.Status)
	case http.StatusNotFound:
		return fmt.Sprintf("%s: Twilio answered 404 (media not ready yet, or deleted)", e.Op)
	}
	return fmt.Sprintf("%s: Twilio answered %d", e.Op, e.Status)
}

// classify makes 401/403 and other 4xx (except 404, 408, 429) permanent:
// retrying cannot fix credentials or a bad request. 404 is retried: media
// can lag the recording callback.
func classify(op string, status int) error {
	err := &statusError{Op: op, Status: status}
	if status >= 400 && status < 500 && status != 404 && status != 408 && status != 429 {
		return permanent{err}
	}
	return err
}

func (t *Twilio) authorize(req *http.Request, accountSID string) {
	if t.AuthToken == "" {
		return
	}
	user := t.AccountSID
	if user == "" {
		user = accountSID
	}
	req.SetBasicAuth(user, t.AuthToken)
}

// checkOrigin refuses any URL outside the configured API origin.
func (t *Twilio) checkOrigin(raw string) error {
	if !strings.HasPrefix(raw, t.BaseURL+"/") {
		return permanent{storage.Errorf(storage.ErrInvalid, "media URL is not on %s", t.BaseURL)}
	}
	return nil
}

// Media opens the recording's WAV audio. The caller closes the body.
func (t *Twilio) Media(ctx context.Context, rec storage.Recording) (io.ReadCloser, string, error) {
	u := rec.SourceURL + ".wav"
	if err := t.checkOrigin(u); err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", permanent{err}
	}
	t.authorize(req, rec.AccountSID)
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("downloading media: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, "", classify("downloading media", resp.StatusCode)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" || strings.HasPrefix(ct, "application/octet-stream") {
		ct = "audio/wav"
	}
	return resp.Body, ct, nil
}

// DeleteMedia deletes the recording at Twilio. Already gone is success.
func (t *Twilio) DeleteMedia(ctx context.Context, rec storage.Recording) error {
	u := t.BaseURL + "/2010-04-01/Accounts/" + rec.AccountSID + "/Recordings/" + rec.SID + ".json"
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return permanent{err}
	}
	t.authorize(req, rec.AccountSID)
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("deleting media: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return classify("deleting media", resp.StatusCode)
}
