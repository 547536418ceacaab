package lambda

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// response is what the app wrote, independent of the event shape that will
// carry it.
type response struct {
	status  int
	headers []headerLine // in the order the app set them, Set-Cookie excluded
	cookies []string     // Set-Cookie values, one per cookie
	body    string
	base64  bool
}

// readResponse copies the app's response out of fctx. Framing headers are
// dropped (API Gateway and the ALB frame the response themselves), and a
// HEAD, 204 or 304 answer carries no body, as on the wire.
func readResponse(fctx *fasthttp.RequestCtx) *response {
	r := &response{status: fctx.Response.StatusCode()}
	body := fctx.Response.Body()
	allowed := bodyAllowed(fctx)

	// fasthttp reports a default Content-Type even when none was set; on the
	// wire it sends that default only with a non-empty body, and so does this.
	fctx.Response.Header.SetNoDefaultContentType(true)
	var contentType, contentEncoding string
	fctx.Response.Header.VisitAll(func(k, v []byte) {
		name, value := string(k), string(v)
		switch name {
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Trailer":
			return
		case "Set-Cookie":
			r.cookies = append(r.cookies, value)
			return
		case "Content-Type":
			if !allowed {
				return
			}
			contentType = value
		case "Content-Encoding":
			contentEncoding = value
		}
		r.addHeader(name, value)
	})
	if contentType == "" && allowed && len(body) > 0 {
		contentType = "text/plain; charset=utf-8"
		r.addHeader("Content-Type", contentType)
	}

	if fctx.IsHead() || !allowed {
		body = nil
	}
	switch {
	case len(body) == 0:
	case contentEncoding == "" && isText(contentType) && utf8.Valid(body):
		r.body = string(body)
	default:
		r.body = base64.StdEncoding.EncodeToString(body)
		r.base64 = true
	}
	return r
}

func (r *response) addHeader(name, value string) {
	for i := range r.headers {
		if r.headers[i].name == name {
			r.headers[i].values = append(r.headers[i].values, value)
			return
		}
	}
	r.headers = append(r.headers, headerLine{name: name, values: []string{value}})
}

// bodyAllowed reports whether the status may carry a body at all.
func bodyAllowed(fctx *fasthttp.RequestCtx) bool {
	s := fctx.Response.StatusCode()
	return s >= 200 && s != http.StatusNoContent && s != http.StatusNotModified
}

// isText reports whether a media type is sent as a plain JSON string;
// everything else is base64, so that API Gateway's binary media types and
// the ALB pass it through byte for byte.
func isText(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return strings.HasPrefix(mt, "text/") ||
		strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml") ||
		strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json") ||
		mt == "application/x-www-form-urlencoded"
}

// restResponse is the payload 1.0 response, for REST APIs and HTTP APIs
// configured for payload 1.0. multiValueHeaders carries repeated headers,
// Set-Cookie included.
type restResponse struct {
	StatusCode        int                 `json:"statusCode"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// httpAPIResponse is the payload 2.0 response. headers has one value per
// name (repeats joined with commas, as HTTP allows), so cookies travel in
// their own field and API Gateway writes one Set-Cookie per entry.
type httpAPIResponse struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies,omitempty"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// albResponse is the ALB target response. The target group's header mode
// decides which of headers and multiValueHeaders it reads, and a request in
// multi-value mode is how the function learns the mode.
type albResponse struct {
	StatusCode        int                 `json:"statusCode"`
	StatusDescription string              `json:"statusDescription"`
	Headers           map[string]string   `json:"headers,omitempty"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders,omitempty"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func encodeResponse(ev *event, r *response) ([]byte, error) {
	switch ev.kind {
	case kindHTTPAPI:
		return json.Marshal(httpAPIResponse{
			StatusCode:      r.status,
			Headers:         r.singleHeaders(),
			Cookies:         r.cookies,
			Body:            r.body,
			IsBase64Encoded: r.base64,
		})
	case kindALBMulti:
		return json.Marshal(albResponse{
			StatusCode:        r.status,
			StatusDescription: statusDescription(r.status),
			MultiValueHeaders: r.multiHeaders(),
			Body:              r.body,
			IsBase64Encoded:   r.base64,
		})
	case kindALB:
		h := r.singleHeaders()
		// A single-value map cannot repeat Set-Cookie, but header names are
		// case-insensitive and the ALB forwards each distinct spelling as
		// its own header, so every cookie gets a differently-cased name.
		for i, c := range r.cookies {
			h[cookieHeaderName(i)] = c
		}
		return json.Marshal(albResponse{
			StatusCode:        r.status,
			StatusDescription: statusDescription(r.status),
			Headers:           h,
			Body:              r.body,
			IsBase64Encoded:   r.base64,
		})
	default:
		return json.Marshal(restResponse{
			StatusCode:        r.status,
			MultiValueHeaders: r.multiHeaders(),
			Body:              r.body,
			IsBase64Encoded:   r.base64,
		})
	}
}

func (r *response) singleHeaders() map[string]string {
	h := make(map[string]string, len(r.headers))
	for _, l := range r.headers {
		h[l.name] = strings.Join(l.values, ",")
	}
	return h
}

func (r *response) multiHeaders() map[string][]string {
	h := make(map[string][]string, len(r.headers)+1)
	for _, l := range r.headers {
		h[l.name] = l.values
	}
	if len(r.cookies) > 0 {
		h["Set-Cookie"] = r.cookies
	}
	return h
}

// cookieHeaderName spells "set-cookie" with the case of each letter taken
// from the bits of i, giving 512 distinct spellings; the first is the
// canonical "Set-Cookie".
func cookieHeaderName(i int) string {
	const lower = "set-cookie"
	b := []byte("Set-Cookie")
	bit := 0
	for j := range b {
		if b[j] == '-' {
			continue
		}
		if i&(1<<bit) != 0 {
			// Flip the case of this letter relative to the canonical form.
			if b[j] == lower[j] {
				b[j] -= 'a' - 'A'
			} else {
				b[j] = lower[j]
			}
		}
		bit++
	}
	return string(b)
}

func statusDescription(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}
