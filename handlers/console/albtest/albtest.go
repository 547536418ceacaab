// Package albtest fakes what an AWS Application Load Balancer does for the
// console's OIDC sign-in: it signs x-amzn-oidc-data assertions as the load
// balancer does (ES256, base64url with padding, the signer's ARN and the
// key id in the header) and serves the public keys by key id over real
// HTTP, as the region's public-key endpoint does, counting the fetches.
package albtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ARN is the load balancer the fake signs as.
const ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/switchboard/50dc6c495c0c9188"

// Issuer signs assertions and serves its public keys.
type Issuer struct {
	// KeyURL is the public-key endpoint (CONSOLE_OIDC_KEY_URL).
	KeyURL string

	mu      sync.Mutex
	kid     string
	keys    map[string]*ecdsa.PrivateKey
	fetches atomic.Int64
}

// New starts an issuer with one key; its endpoint closes with the test.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{keys: map[string]*ecdsa.PrivateKey{}}
	i.Rotate()
	srv := httptest.NewServer(http.HandlerFunc(i.serve))
	t.Cleanup(srv.Close)
	i.KeyURL = srv.URL + "/"
	return i
}

// Rotate makes a new key the one assertions are signed with, as the load
// balancer does from time to time; the old key is still served.
func (i *Issuer) Rotate() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	kid := strings.Join([]string{hexOf(b[:4]), hexOf(b[4:6]), hexOf(b[6:8]), hexOf(b[8:10]), hexOf(b[10:])}, "-")
	i.mu.Lock()
	defer i.mu.Unlock()
	i.kid, i.keys[kid] = kid, k
	return kid
}

// Fetches is how many times a key was fetched.
func (i *Issuer) Fetches() int { return int(i.fetches.Load()) }

// Header is an assertion's header, as the load balancer writes it.
type Header struct {
	Alg    string `json:"alg"`
	Kid    string `json:"kid"`
	Signer string `json:"signer"`
	Iss    string `json:"iss"`
	Client string `json:"client"`
	Exp    int64  `json:"exp"`
}

// Header returns the header of an assertion signed now, expiring at exp.
func (i *Issuer) Header(exp time.Time) Header {
	i.mu.Lock()
	defer i.mu.Unlock()
	return Header{Alg: "ES256", Kid: i.kid, Signer: ARN, Iss: "https://idp.example.com", Client: "switchboard-console", Exp: exp.Unix()}
}

// Assertion is what the load balancer sends for a person with these
// claims, valid for two minutes (as the load balancer's are).
func (i *Issuer) Assertion(claims map[string]any) string {
	exp := time.Now().Add(2 * time.Minute)
	claims = withDefault(claims, "exp", exp.Unix())
	return i.Sign(i.Header(exp), claims)
}

// Sign signs any header and claims with the key the header names (the
// current key when it names none the issuer has), for forgeries too.
func (i *Issuer) Sign(h Header, claims map[string]any) string {
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	enc := base64.URLEncoding // with padding, as the load balancer encodes
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	i.mu.Lock()
	k, ok := i.keys[h.Kid]
	if !ok {
		k = i.keys[i.kid]
	}
	i.mu.Unlock()
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	i.fetches.Add(1)
	kid := strings.TrimPrefix(r.URL.Path, "/")
	i.mu.Lock()
	k, ok := i.keys[kid]
	i.mu.Unlock()
	if !ok {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_ = pem.Encode(w, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func withDefault(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for kk, vv := range m {
		out[kk] = vv
	}
	return out
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
