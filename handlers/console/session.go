package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Session is what a signed session cookie says: who signed in, how, until
// when, and the secret the session's forms carry against cross-site
// requests. It holds no token: a token sign-in is remembered by the
// token's fingerprint, so the cookie reveals nothing that opens the API,
// and a token removed from API_TOKENS no longer matches any session.
type Session struct {
	// Fingerprint is the API token's fingerprint (Keys.Fingerprint), or
	// OpenFingerprint for a development console without API tokens.
	Fingerprint string `json:"fp"`
	// CSRF is the random secret the session's forms must send back.
	CSRF string `json:"csrf"`
	// Issued and Expires bound the session (Unix seconds).
	Issued  int64 `json:"iat"`
	Expires int64 `json:"exp"`
}

// OpenFingerprint marks a session opened while no API token was
// configured (development): it is good only while there still is none.
const OpenFingerprint = "open"

// maxCookie bounds a session cookie read from a request, before any
// decoding: a cookie this package wrote is far shorter.
const maxCookie = 512

// Keys are the keys derived from CONSOLE_SESSION_KEY, one per use, so a
// value made for one use (a fingerprint, say) is never accepted as
// another (a cookie's signature).
type Keys struct {
	session, fingerprint, csrf []byte
}

// NewKeys derives the console's keys from the shared secret.
func NewKeys(secret []byte) *Keys {
	derive := func(use string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("switchboard console v1: " + use))
		return m.Sum(nil)
	}
	return &Keys{session: derive("session"), fingerprint: derive("token fingerprint"), csrf: derive("csrf")}
}

// RandomKey returns a fresh key, for a development process that was given
// none: its sessions end when it stops, and no other process accepts them.
func RandomKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// Fingerprint identifies an API token without revealing it: a keyed hash,
// so knowing a fingerprint does not help guess the token.
func (k *Keys) Fingerprint(token string) string {
	m := hmac.New(sha256.New, k.fingerprint)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// NewSession opens a session for fingerprint, issued at now, lasting ttl.
func NewSession(fingerprint string, now time.Time, ttl time.Duration) Session {
	return Session{Fingerprint: fingerprint, CSRF: randomToken(), Issued: now.Unix(), Expires: now.Add(ttl).Unix()}
}

// Seal encodes and signs s as a cookie value.
func (k *Keys) Seal(s Session) string {
	body, _ := json.Marshal(s)
	payload := "v1." + base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + k.sign(payload)
}

// Errors of Open. Each is the reason a request is sent to sign in again;
// none is shown to the person.
var (
	ErrNoSession      = errors.New("no session")
	ErrBadSession     = errors.New("session cookie malformed or not signed with CONSOLE_SESSION_KEY")
	ErrExpiredSession = errors.New("session expired")
)

// Open verifies a cookie value and returns its session, unless the
// signature is wrong (another key, a changed byte), it is malformed or
// it has expired at now.
func (k *Keys) Open(v string, now time.Time) (Session, error) {
	if v == "" {
		return Session{}, ErrNoSession
	}
	if len(v) > maxCookie {
		return Session{}, ErrBadSession
	}
	i := strings.LastIndexByte(v, '.')
	if i < 0 || !strings.HasPrefix(v, "v1.") {
		return Session{}, ErrBadSession
	}
	payload, sig := v[:i], v[i+1:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(k.sign(payload))) != 1 {
		return Session{}, ErrBadSession
	}
	body, err := base64.RawURLEncoding.DecodeString(payload[len("v1."):])
	if err != nil {
		return Session{}, ErrBadSession
	}
	var s Session
	if err := json.Unmarshal(body, &s); err != nil || s.Fingerprint == "" || s.CSRF == "" {
		return Session{}, ErrBadSession
	}
	if now.Unix() >= s.Expires {
		return Session{}, ErrExpiredSession
	}
	return s, nil
}

func (k *Keys) sign(payload string) string {
	m := hmac.New(sha256.New, k.session)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SignInNonce returns a fresh nonce for the sign-in form and the cookie
// value that vouches for it until expires: signing in, which sets a
// session, is a state-changing form like any other, so a page on another
// site cannot sign a browser in to an account of its choosing.
func (k *Keys) SignInNonce(now time.Time, ttl time.Duration) (nonce, cookie string) {
	nonce = randomToken()
	s := Session{Fingerprint: "sign-in", CSRF: nonce, Issued: now.Unix(), Expires: now.Add(ttl).Unix()}
	return nonce, k.Seal(s)
}

// CheckSignInNonce reports whether the form's nonce is the one the
// sign-in cookie vouches for, and the cookie is still good at now.
func (k *Keys) CheckSignInNonce(cookie, nonce string, now time.Time) bool {
	s, err := k.Open(cookie, now)
	return err == nil && s.Fingerprint == "sign-in" && SameToken(s.CSRF, nonce)
}

// OIDCToken returns the CSRF token of a person signed in through the load
// balancer, who has no session cookie of this package: a keyed hash of
// who they are, which only this service can make.
func (k *Keys) OIDCToken(subject string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte("oidc\x00" + subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// SameToken compares a token a form sent with the expected one in
// constant time. An empty token never matches.
func SameToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
