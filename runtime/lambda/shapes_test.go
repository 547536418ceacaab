package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"switchboard/runtime/lambda"
)

// request is one logical HTTP request, which the builders below carry in
// each event shape the way AWS does.
type request struct {
	method  string
	path    string      // percent-encoded, as the client sent it
	query   [][2]string // decoded pairs, keys in sorted order
	headers [][2]string // canonical names
	cookie  string      // the client's single Cookie header, "a=1; b=2"
	body    []byte
	binary  bool // the service base64-encodes the body
	ip      string
}

const domain = "abc123.execute-api.eu-west-1.amazonaws.com"

func (r request) bodyFields() (string, bool) {
	if r.binary {
		return base64.StdEncoding.EncodeToString(r.body), true
	}
	return string(r.body), false
}

func (r request) allHeaders() [][2]string {
	h := append([][2]string{{"Host", domain}, {"X-Forwarded-For", r.ip}}, r.headers...)
	if r.cookie != "" {
		h = append(h, [2]string{"Cookie", r.cookie})
	}
	return h
}

func (r request) rawQuery() string {
	parts := make([]string, 0, len(r.query))
	for _, kv := range r.query {
		parts = append(parts, url.QueryEscape(kv[0])+"="+url.QueryEscape(kv[1]))
	}
	return strings.Join(parts, "&")
}

// restEvent is an API Gateway REST API (payload 1.0) event: the path as
// sent, query parameters decoded, headers in both single and multi form.
func restEvent(r request) map[string]any {
	single, multi := map[string]string{}, map[string][]string{}
	for _, h := range r.allHeaders() {
		single[h[0]] = h[1]
		multi[h[0]] = append(multi[h[0]], h[1])
	}
	qs, mq := map[string]string{}, map[string][]string{}
	for _, kv := range r.query {
		qs[kv[0]] = kv[1]
		mq[kv[0]] = append(mq[kv[0]], kv[1])
	}
	body, b64 := r.bodyFields()
	return map[string]any{
		"resource": "/{proxy+}", "path": r.path, "httpMethod": r.method,
		"headers": single, "multiValueHeaders": multi,
		"queryStringParameters": qs, "multiValueQueryStringParameters": mq,
		"requestContext": map[string]any{
			"domainName": domain, "stage": "prod", "path": "/prod" + r.path, "requestId": "rest-1",
			"identity": map[string]any{"sourceIp": r.ip},
		},
		"body": body, "isBase64Encoded": b64,
	}
}

// httpAPIEvent is an HTTP API (payload 2.0) event: the path decoded, the
// query raw, header names lower-cased with repeats comma-joined, cookies in
// their own field.
func httpAPIEvent(r request) map[string]any {
	path, err := url.PathUnescape(r.path)
	if err != nil {
		panic(err)
	}
	headers := map[string]string{}
	for _, h := range r.allHeaders() {
		k := strings.ToLower(h[0])
		if k == "cookie" {
			continue
		}
		if v, ok := headers[k]; ok {
			headers[k] = v + "," + h[1]
		} else {
			headers[k] = h[1]
		}
	}
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": r.rawQuery(),
		"headers": headers,
		"requestContext": map[string]any{
			"domainName": domain, "stage": "$default", "requestId": "v2-1",
			"http": map[string]any{"method": r.method, "path": path, "sourceIp": r.ip},
		},
	}
	if r.cookie != "" {
		ev["cookies"] = strings.Split(r.cookie, "; ")
	}
	ev["body"], ev["isBase64Encoded"] = r.bodyFields()
	return ev
}

// albEvent is an ALB target group event: path and query exactly as sent
// (still percent-encoded), header names lower-cased, and no source IP but
// the one the ALB appends to X-Forwarded-For.
func albEvent(r request, multiValue bool) map[string]any {
	single, multi := map[string]string{}, map[string][]string{}
	for _, h := range r.allHeaders() {
		k := strings.ToLower(h[0])
		single[k] = h[1]
		multi[k] = append(multi[k], h[1])
	}
	qs, mq := map[string]string{}, map[string][]string{}
	for _, kv := range r.query {
		k, v := url.QueryEscape(kv[0]), url.QueryEscape(kv[1])
		qs[k] = v
		mq[k] = append(mq[k], v)
	}
	ev := map[string]any{
		"httpMethod": r.method, "path": r.path,
		"requestContext": map[string]any{"elb": map[string]any{"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/sb/0123"}},
	}
	if multiValue {
		ev["multiValueHeaders"], ev["multiValueQueryStringParameters"] = multi, mq
	} else {
		ev["headers"], ev["queryStringParameters"] = single, qs
	}
	ev["body"], ev["isBase64Encoded"] = r.bodyFields()
	return ev
}

// shapes lists every event shape with its builder.
var shapes = []struct {
	name  string
	build func(request) map[string]any
}{
	{"REST", restEvent},
	{"HTTPAPI", httpAPIEvent},
	{"ALB", func(r request) map[string]any { return albEvent(r, false) }},
	{"ALBMultiValue", func(r request) map[string]any { return albEvent(r, true) }},
}

// result is a Lambda response reduced to what a client would see: header
// names canonical, repeated values comma-joined, cookies sorted, the body
// decoded.
type result struct {
	Status            int
	StatusDescription string
	Headers           http.Header
	Cookies           []string
	Body              []byte
	Base64            bool
	Keys              []string // the top-level keys of the response JSON
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustInvoke(t testing.TB, h *lambda.Handler, ctx context.Context, event map[string]any) result {
	t.Helper()
	out, err := h.Invoke(ctx, mustJSON(t, event))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return parseResult(t, out)
}

func parseResult(t testing.TB, out []byte) result {
	t.Helper()
	var raw struct {
		StatusCode        int                 `json:"statusCode"`
		StatusDescription string              `json:"statusDescription"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Cookies           []string            `json:"cookies"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(out, &keys); err != nil {
		t.Fatal(err)
	}
	r := result{
		Status: raw.StatusCode, StatusDescription: raw.StatusDescription,
		Headers: http.Header{}, Cookies: raw.Cookies, Base64: raw.IsBase64Encoded,
	}
	for k := range keys {
		r.Keys = append(r.Keys, k)
	}
	slices.Sort(r.Keys)
	for k, vs := range raw.MultiValueHeaders {
		if strings.EqualFold(k, "Set-Cookie") {
			r.Cookies = append(r.Cookies, vs...)
			continue
		}
		r.Headers.Add(k, strings.Join(vs, ","))
	}
	for k, v := range raw.Headers {
		if strings.EqualFold(k, "Set-Cookie") {
			r.Cookies = append(r.Cookies, v)
			continue
		}
		r.Headers[textproto.CanonicalMIMEHeaderKey(k)] = append(r.Headers[textproto.CanonicalMIMEHeaderKey(k)], v)
	}
	slices.Sort(r.Cookies)
	r.Body = []byte(raw.Body)
	if raw.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(raw.Body)
		if err != nil {
			t.Fatalf("base64 body: %v", err)
		}
		r.Body = b
	}
	return r
}

func mustHandler(t testing.TB, opts ...lambda.Option) (*lambda.Handler, *testApp) {
	t.Helper()
	ta := newTestApp()
	return lambda.NewHandler(ta.app, opts...), ta
}
