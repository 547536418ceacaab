// Package twiliosig computes and checks X-Twilio-Signature as Twilio and its
// official SDKs (twilio-python, twilio-node) do: HMAC-SHA1, keyed with the
// account's auth token, over the full URL Twilio requested followed by every
// POST parameter, names sorted, each name followed by its value; a name sent
// more than once contributes each of its distinct values, sorted.
//
// The signed string is built once per request, in time linear in the body,
// and checked against a small set of candidate URLs (port and encoding
// variants the SDKs accept) and tokens, so refusing a forged request costs a
// few hash passes over a bounded body and nothing more.
package twiliosig

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"hash"
	"net/url"
	"slices"
	"strings"
	"unsafe"
)

// Params is the parameter part of the signed string: names in byte order,
// and for each name its distinct values in byte order, each written as name
// then value. It is prepared once per request and written into each hash
// without being copied into one string.
type Params struct {
	names  []string
	values [][]string
}

// NewParams prepares the parameters of form for signing.
func NewParams(form url.Values) Params {
	p := Params{names: make([]string, 0, len(form))}
	for k := range form {
		p.names = append(p.names, k)
	}
	slices.Sort(p.names)
	p.values = make([][]string, len(p.names))
	for i, k := range p.names {
		vs := form[k]
		if len(vs) > 1 {
			vs = slices.Clone(vs)
			slices.Sort(vs)
			vs = slices.Compact(vs)
		}
		p.values[i] = vs
	}
	return p
}

// String returns the parameter part as one string.
func (p Params) String() string {
	var b strings.Builder
	p.writeTo(&b)
	return b.String()
}

type stringWriter interface{ WriteString(string) (int, error) }

func (p Params) writeTo(w stringWriter) {
	for i, k := range p.names {
		for _, v := range p.values[i] {
			_, _ = w.WriteString(k)
			_, _ = w.WriteString(v)
		}
	}
}

// hashWriter lets a hash take strings without copying them: hash.Hash's
// Write never modifies or keeps its argument, so viewing the string's bytes
// is safe, and a forged request at the body limit costs no copy of its body
// per candidate URL.
type hashWriter struct{ h hash.Hash }

func (w hashWriter) WriteString(s string) (int, error) {
	return w.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Sign returns the signature Twilio sends for a POST of form to fullURL.
func Sign(token, fullURL string, form url.Values) string {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(fullURL))
	NewParams(form).writeTo(hashWriter{mac})
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Checker checks signatures against one or more auth tokens (the current
// one and, during a rotation, the next).
type Checker struct {
	tokens [][]byte
}

// NewChecker returns a Checker for the non-empty tokens.
func NewChecker(tokens ...string) *Checker {
	c := &Checker{}
	for _, t := range tokens {
		if t != "" {
			c.tokens = append(c.tokens, []byte(t))
		}
	}
	return c
}

// Enabled reports whether the Checker has a token to check with.
func (c *Checker) Enabled() bool { return len(c.tokens) > 0 }

// Check reports whether sig is a valid signature of params under any of
// urls and any of the tokens. A signature that is not the
// base64 of a SHA-1 sized MAC is refused without hashing anything.
func (c *Checker) Check(sig string, urls []string, params Params) bool {
	var want [sha1.Size]byte
	if base64.StdEncoding.EncodedLen(sha1.Size) != len(sig) {
		return false
	}
	if n, err := base64.StdEncoding.Decode(want[:], []byte(sig)); err != nil || n != sha1.Size {
		return false
	}
	var sum [sha1.Size]byte
	for _, t := range c.tokens {
		mac := hmac.New(sha1.New, t)
		for _, u := range urls {
			if equal(mac, u, params, want[:], sum[:0]) {
				return true
			}
		}
	}
	return false
}

func equal(mac hash.Hash, u string, params Params, want, buf []byte) bool {
	mac.Reset()
	w := hashWriter{mac}
	_, _ = w.WriteString(u)
	params.writeTo(w)
	return hmac.Equal(mac.Sum(buf), want)
}

// URLVariants returns the URLs the SDKs accept for a request Twilio made to
// u, without duplicates: u itself; u with "'" and "%27" exchanged both ways
// (Twilio and URL libraries disagree on escaping the apostrophe); and each
// of those without the port and with the scheme's default port (Twilio's
// signing of ports is inconsistent, so the SDKs try both).
func URLVariants(u string) []string {
	out := []string{u}
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if strings.Contains(u, "'") {
		add(strings.ReplaceAll(u, "'", "%27"))
	}
	if strings.Contains(u, "%27") {
		add(strings.ReplaceAll(u, "%27", "'"))
	}
	for _, s := range slices.Clone(out) {
		add(withoutPort(s))
		add(withDefaultPort(s))
	}
	return out
}

// splitOrigin splits an absolute URL into its prefix (scheme "://" and any
// credentials "@"), its host with any port, and the rest; ok is false when u
// is not absolute.
func splitOrigin(u string) (prefix, host, rest string, ok bool) {
	i := strings.Index(u, "://")
	if i < 0 {
		return "", "", "", false
	}
	prefix, rest = u[:i+3], u[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, rest = rest[:end], rest[end:]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		prefix, host = prefix+host[:at+1], host[at+1:]
	}
	return prefix, host, rest, true
}

// portAt returns the index of the ':' before host's port, or -1.
func portAt(host string) int {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.HasSuffix(host, "]") {
		return -1
	}
	return i
}

func withoutPort(u string) string {
	prefix, host, rest, ok := splitOrigin(u)
	if !ok {
		return u
	}
	if i := portAt(host); i >= 0 {
		host = host[:i]
	}
	return prefix + host + rest
}

func withDefaultPort(u string) string {
	prefix, host, rest, ok := splitOrigin(u)
	if !ok || portAt(host) >= 0 {
		return u
	}
	port := ":80"
	if strings.HasPrefix(strings.ToLower(prefix), "https:") {
		port = ":443"
	}
	return prefix + host + port + rest
}
