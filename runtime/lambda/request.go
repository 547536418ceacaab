package lambda

import (
	"encoding/base64"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// buildRequest fills req with the event's method, URI and headers, and
// returns the decoded body, or the error the app should answer instead of
// routing the request.
func (h *Handler) buildRequest(req *fasthttp.Request, ev *event) ([]byte, *fiber.Error) {
	req.Header.SetMethod(ev.method())
	uri := escapePath(h.routePath(ev))
	if q := ev.query(); q != "" {
		uri += "?" + q
	}
	req.SetRequestURI(uri)

	host := ev.RequestContext.DomainName
	for _, l := range ev.headerLines() {
		switch l.name {
		case "Host":
			// An ALB uses the last of repeated headers; do the same.
			host = l.values[len(l.values)-1]
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
			"Proxy-Connection", "Te", "Trailer", "Upgrade":
			// Hop-by-hop or framing headers describe the client's
			// connection, not this request: the body is already whole,
			// and a stale Content-Length must not disagree with it.
		default:
			req.Header.Set(l.name, l.value())
		}
	}
	req.Header.SetHost(host)

	body, err := ev.body()
	if err != nil {
		return nil, fiber.NewError(fiber.StatusBadRequest, "request body is not valid base64")
	}
	if len(body) > h.bodyLimit {
		return nil, fiber.ErrRequestEntityTooLarge
	}
	return body, nil
}

// routePath is the path the app routes on: the event's path without an
// HTTP API stage prefix, so HTTP APIs (whose rawPath has a named stage) and
// REST APIs (whose path has none) look the same to the app. A custom-domain
// base path is left in place: the app knows it from PUBLIC_BASE_URL and
// routes on the rest, whether or not the event carried it.
func (h *Handler) routePath(ev *event) string {
	p := ev.rawPath()
	if ev.kind == kindHTTPAPI {
		if st := ev.RequestContext.Stage; st != "" && st != "$default" {
			p = stripPrefix(p, "/"+st)
		}
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// stripPrefix removes prefix from p only at a segment boundary, so a base
// path "/api" leaves "/apiary" alone.
func stripPrefix(p, prefix string) string {
	switch {
	case p == prefix:
		return "/"
	case strings.HasPrefix(p, prefix+"/"):
		return p[len(prefix):]
	}
	return p
}

// query rebuilds the raw query string. HTTP APIs and function URLs send it
// verbatim; ALBs send parameters still percent-encoded, so they are joined
// as they are; REST APIs send them decoded, so they are encoded again. Keys
// are sorted because the maps have no order.
func (ev *event) query() string {
	switch ev.kind {
	case kindHTTPAPI:
		if ev.RawQueryString != "" {
			return escapeQuery(ev.RawQueryString)
		}
		return encodeQuery(ev.QueryStringParameters, nil, url.QueryEscape)
	case kindALB, kindALBMulti:
		return encodeQuery(ev.QueryStringParameters, ev.MultiValueQueryStringParameters, escapeQuery)
	default:
		return encodeQuery(ev.QueryStringParameters, ev.MultiValueQueryStringParameters, url.QueryEscape)
	}
}

// maxPermutedKeys bounds the query keys whose every order is tried.
const maxPermutedKeys = 3

// altQueries returns other query strings the request may have had when
// Twilio signed its URL, for events that carry the query as a map (REST and
// ALB): every order of the keys when there are at most maxPermutedKeys of
// them, and for REST (whose values arrive decoded) each order with spaces
// written as %20 as well as "+". The first query() result is not repeated.
// The list is small and bounded: each entry costs one more signature check.
func (ev *event) altQueries() []string {
	if ev.kind == kindHTTPAPI {
		return nil // sent verbatim
	}
	single, multi := ev.QueryStringParameters, ev.MultiValueQueryStringParameters
	keys := sortedKeys(single)
	if len(multi) > 0 {
		keys = sortedKeys(multi)
	}
	if len(keys) == 0 {
		return nil
	}
	values := func(k string) []string {
		if len(multi) > 0 {
			return multi[k]
		}
		return []string{single[k]}
	}
	escapers := []func(string) string{url.QueryEscape, pathStyleEscape}
	if ev.kind != kindREST {
		escapers = []func(string) string{escapeQuery} // ALB values arrive encoded
	}
	orders := [][]string{keys}
	if len(keys) <= maxPermutedKeys {
		orders = permutations(keys)
	}
	first := ev.query()
	var out []string
	for _, order := range orders {
		for _, esc := range escapers {
			var b strings.Builder
			for _, k := range order {
				for _, v := range values(k) {
					if b.Len() > 0 {
						b.WriteByte('&')
					}
					b.WriteString(esc(k))
					b.WriteByte('=')
					b.WriteString(esc(v))
				}
			}
			if q := b.String(); q != first && !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	return out
}

// pathStyleEscape escapes like url.QueryEscape but writes a space as %20, as
// a URL typed into Twilio's console may have it.
func pathStyleEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// permutations returns every order of keys (at most maxPermutedKeys of
// them), the given order first.
func permutations(keys []string) [][]string {
	if len(keys) <= 1 {
		return [][]string{keys}
	}
	var out [][]string
	for i, k := range keys {
		rest := append(append([]string(nil), keys[:i]...), keys[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{k}, p...))
		}
	}
	return out
}

func encodeQuery(single map[string]string, multi map[string][]string, esc func(string) string) string {
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(esc(k))
		b.WriteByte('=')
		b.WriteString(esc(v))
	}
	if len(multi) > 0 {
		for _, k := range sortedKeys(multi) {
			for _, v := range multi[k] {
				add(k, v)
			}
		}
		return b.String()
	}
	for _, k := range sortedKeys(single) {
		add(k, single[k])
	}
	return b.String()
}

// escapePath makes p a valid percent-encoded path whether it arrived
// encoded or decoded: valid %XX escapes stay as they are, and only bytes
// that can never appear literally in an encoded path are escaped — a bare
// '%', '?', '#', spaces, controls and non-ASCII. A decoded "?" or "#" would
// otherwise cut the path short.
func escapePath(p string) string {
	return escapeBytes(p, func(c byte) bool { return c == '?' || c == '#' })
}

// escapeQuery is escapePath for a raw query string, where '?' is allowed.
func escapeQuery(q string) string {
	return escapeBytes(q, func(c byte) bool { return c == '#' })
}

func escapeBytes(s string, special func(byte) bool) string {
	needs := func(i int) bool {
		c := s[i]
		if c == '%' {
			return i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])
		}
		return c <= ' ' || c >= 0x7f || special(c)
	}
	first := -1
	for i := 0; i < len(s); i++ {
		if needs(i) {
			first = i
			break
		}
	}
	if first < 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:first])
	for i := first; i < len(s); i++ {
		if needs(i) {
			b.WriteByte('%')
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&15])
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// body decodes the event body. AWS sends standard padded base64, but a
// body re-encoded by a proxy or test tool may be unpadded, URL-safe or
// wrapped, and is accepted too.
func (ev *event) body() ([]byte, error) {
	if !ev.IsBase64Encoded {
		return []byte(ev.Body), nil
	}
	if b, err := base64.StdEncoding.DecodeString(ev.Body); err == nil {
		return b, nil
	}
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, ev.Body)
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(s)
}

func canonicalHeader(name string) string {
	return textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))
}
