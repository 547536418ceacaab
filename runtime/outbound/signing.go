package outbound

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification writes them.
const SecretPrefix = "whsec_"

// secretBytes is the key length: the specification asks for 24 to 64 random
// bytes.
const secretBytes = 32

// ErrBadSecret: a secret that is not whsec_ and 24 to 64 base64 bytes.
var ErrBadSecret = errors.New("outbound: a signing secret is whsec_ followed by 24 to 64 base64-encoded random bytes")

// NewSecret returns a fresh signing secret (whsec_ and 32 random bytes in
// base64), to be shown to the business once.
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// CheckSecret reports whether s is a usable signing secret.
func CheckSecret(s string) error {
	raw, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return ErrBadSecret
	}
	return nil
}

// NewMessageID returns a webhook-id: msg_ and 16 random bytes in
// URL-safe base64, unique per message.
func NewMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "msg_" + base64.RawURLEncoding.EncodeToString(b)
}

// Signer signs requests with one secret per the Standard Webhooks
// specification (webhook-id, webhook-timestamp, webhook-signature: v1,
// HMAC-SHA256 over "id.timestamp.body"), with the specification's own Go
// library.
type Signer struct {
	wh *standardwebhooks.Webhook
}

// NewSigner returns a signer for a whsec_ secret.
func NewSigner(secret string) (*Signer, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, err
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, ErrBadSecret
	}
	return &Signer{wh: wh}, nil
}

// Sign sets the three signature headers on h for body sent at t with
// message id (a new one when empty).
func (s *Signer) Sign(h http.Header, id string, t time.Time, body []byte) error {
	if id == "" {
		id = NewMessageID()
	}
	sig, err := s.wh.Sign(id, t, body)
	if err != nil {
		return err
	}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return nil
}
