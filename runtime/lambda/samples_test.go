package lambda_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sample is one of aws-lambda-go's own sample events (see
// testdata/lambda/README.md) and what its unmodified request looks like.
type sample struct {
	file    string
	shape   string // REST, HTTPAPI or ALB: which fields hold method and path
	ip      string
	query   map[string][]string
	cookies map[string]string
	headers [][2]string // headers the sample carries, as the app must see them
}

var samples = []sample{
	{
		file: "alb-lambda-target-request-headers-only.json", shape: "ALB", ip: "25.12.198.67",
		query: map[string][]string{"key": {"hello"}}, cookies: map[string]string{}, headers: [][2]string{{"X-Myheader", "123"}},
	},
	{
		file: "alb-lambda-target-request-multivalue-headers.json", shape: "ALB", ip: "72.21.198.67",
		query: map[string][]string{"key": {"hello"}}, cookies: map[string]string{}, headers: [][2]string{{"X-Myheader", "123"}},
	},
	{
		file: "apigw-request.json", shape: "REST", ip: "192.168.196.186",
		query: map[string][]string{"name": {"me"}}, cookies: map[string]string{}, headers: [][2]string{{"Headername", "headerValue"}, {"X-Forwarded-For", "54.240.196.186, 54.182.214.83"}},
	},
	{
		file: "apigw-v2-request-no-authorizer.json", shape: "HTTPAPI", ip: "1.2.3.4",
		query: map[string][]string{}, cookies: map[string]string{}, headers: [][2]string{{"X-Forwarded-Port", "443"}},
	},
	{
		file: "apigw-v2-request-jwt-authorizer.json", shape: "HTTPAPI", ip: "0.0.0.0",
		query:   map[string][]string{"parameter1": {"value1", "value2"}, "parameter2": {"value"}},
		cookies: map[string]string{"": "cookie2"}, headers: [][2]string{{"Header2", "value2"}, {"Cookie", "cookie1; cookie2"}},
	},
	{
		file: "lambda-urls-request.json", shape: "HTTPAPI", ip: "123.123.123.123",
		query:   map[string][]string{"parameter1": {"value1", "value2"}, "parameter2": {"value"}},
		cookies: map[string]string{"": "cookie2"}, headers: [][2]string{{"Header2", "value1,value2"}, {"Cookie", "cookie1; cookie2"}},
	},
}

func mustSample(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lambda", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// pointAt rewrites a sample event's method and path in place, in the
// fields its shape uses.
func pointAt(m map[string]any, shape, method, path string) {
	if shape == "HTTPAPI" {
		m["rawPath"] = path
		httpCtx := m["requestContext"].(map[string]any)["http"].(map[string]any)
		httpCtx["method"], httpCtx["path"] = method, path
		return
	}
	m["httpMethod"], m["path"] = method, path
}

// withFormBody gives a sample event a form body and replaces its
// Content-Type in whichever header maps the sample has, leaving any stale
// Content-Length as it is.
func withFormBody(m map[string]any, body string) {
	const form = "application/x-www-form-urlencoded"
	m["body"], m["isBase64Encoded"] = body, false
	if m["headers"] == nil && m["multiValueHeaders"] == nil {
		m["headers"] = map[string]any{}
	}
	for _, key := range []string{"headers", "multiValueHeaders"} {
		hm, ok := m[key].(map[string]any)
		if !ok {
			continue
		}
		for k := range hm {
			if strings.EqualFold(k, "Content-Type") {
				delete(hm, k)
			}
		}
		if key == "headers" {
			hm["content-type"] = form
		} else {
			hm["content-type"] = []any{form}
		}
	}
}

func TestSampleEvents(t *testing.T) {
	h, _ := mustHandler(t)
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			t.Run("HealthzOK", func(t *testing.T) {
				ev := mustSample(t, s.file)
				pointAt(ev, s.shape, "GET", "/healthz")
				got := mustInvoke(t, h, t.Context(), ev)
				if got.Status != 200 || string(got.Body) != "ok" {
					t.Fatalf("got %d %q, want 200 \"ok\"", got.Status, got.Body)
				}
			})
			t.Run("FormPostRouted", func(t *testing.T) {
				ev := mustSample(t, s.file)
				pointAt(ev, s.shape, "POST", "/form")
				withFormBody(ev, "From=%2B15551234567&Body=hello+there")
				got := mustInvoke(t, h, t.Context(), ev)
				want := `{"Body":"hello there","From":"+15551234567"}`
				if got.Status != 200 || string(got.Body) != want {
					t.Fatalf("got %d %s, want 200 %s", got.Status, got.Body, want)
				}
			})
			t.Run("RequestCarriedIntact", func(t *testing.T) {
				ev := mustSample(t, s.file)
				pointAt(ev, s.shape, "PUT", "/echo/sample")
				e := decodeEcho(t, mustInvoke(t, h, t.Context(), ev))
				if e.Method != "PUT" || e.Path != "/echo/sample" || e.IP != s.ip {
					t.Errorf("method, path, ip = %s %s %s; want PUT /echo/sample %s", e.Method, e.Path, e.IP, s.ip)
				}
				if diff := cmp.Diff(s.query, e.Query); diff != "" {
					t.Errorf("query (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(s.cookies, e.Cookies); diff != "" {
					t.Errorf("cookies (-want +got):\n%s", diff)
				}
				for _, hv := range s.headers {
					if got := e.Headers[hv[0]]; !cmp.Equal(got, []string{hv[1]}) {
						t.Errorf("header %s = %q, want %q", hv[0], got, hv[1])
					}
				}
			})
		})
	}
}
