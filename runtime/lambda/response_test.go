package lambda_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// logicalRequests are requests whose responses must not depend on the event
// shape that carried them.
var logicalRequests = map[string]request{
	"Echo": {
		method: "POST", path: "/echo/a%20b", ip: "203.0.113.5",
		// No repeated query key: an ALB in single-value mode keeps only the last.
		query:   [][2]string{{"a", "1"}, {"b", "x/y z"}},
		headers: [][2]string{{"Accept", "application/json"}, {"X-Custom", "v1, v2"}, {"Content-Type", "application/octet-stream"}},
		cookie:  "sid=abc; theme=dark", body: binaryBody, binary: true,
	},
	"FormPost": {
		method: "POST", path: "/form", ip: "203.0.113.5",
		headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}},
		body:    []byte("From=%2B15551234567&Body=hi"),
	},
	"Binary":           {method: "GET", path: "/binary", ip: "203.0.113.5"},
	"Large":            {method: "GET", path: "/large", ip: "203.0.113.5"},
	"LargeText":        {method: "GET", path: "/large-text", ip: "203.0.113.5"},
	"Latin1":           {method: "GET", path: "/latin1", ip: "203.0.113.5"},
	"Gzip":             {method: "GET", path: "/gzip", ip: "203.0.113.5"},
	"Cookies":          {method: "GET", path: "/cookies", ip: "203.0.113.5"},
	"Empty":            {method: "GET", path: "/empty", ip: "203.0.113.5"},
	"NothingWritten":   {method: "GET", path: "/nothing", ip: "203.0.113.5"},
	"NoContent":        {method: "DELETE", path: "/item", ip: "203.0.113.5"},
	"NotFound":         {method: "GET", path: "/missing", ip: "203.0.113.5"},
	"MethodNotAllowed": {method: "PUT", path: "/healthz", ip: "203.0.113.5"},
}

// comparable drops what legitimately differs between transports: the
// response JSON's own keys, and whether the body travelled as base64.
func comparable(r result) result {
	r.Keys, r.StatusDescription, r.Base64 = nil, "", false
	return r
}

// bodyEqual compares bodies as a whole: cmp's element-wise walk over a
// large []byte is needlessly slow.
// Empty ones are left to cmpopts.EquateEmpty.
var bodyEqual = cmp.FilterValues(func(a, b []byte) bool { return len(a)+len(b) > 0 },
	cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) }))

func TestSameRequestSameResponseInEveryShape(t *testing.T) {
	h, _ := mustHandler(t)
	ctx, _ := lambdaContext(t, "req-same", time.Minute)
	for name, req := range logicalRequests {
		t.Run(name, func(t *testing.T) {
			want := comparable(mustInvoke(t, h, ctx, restEvent(req)))
			for _, s := range shapes[1:] {
				got := comparable(mustInvoke(t, h, ctx, s.build(req)))
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), bodyEqual); diff != "" {
					t.Errorf("%s differs from REST (-REST +%s):\n%s", s.name, s.name, diff)
				}
			}
		})
	}
}

// TestResponsesMatchHTTPServer runs each request through app.Test, the
// in-process HTTP path, and checks every Lambda shape answers the same.
func TestResponsesMatchHTTPServer(t *testing.T) {
	h, ta := mustHandler(t)
	for name, req := range logicalRequests {
		if name == "Echo" {
			continue // echoes the peer address and Lambda context, which differ by design
		}
		t.Run(name, func(t *testing.T) {
			want := appTest(t, ta, req)
			for _, s := range shapes {
				got := comparable(mustInvoke(t, h, t.Context(), s.build(req)))
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), bodyEqual); diff != "" {
					t.Errorf("%s differs from app.Test (-http +lambda):\n%s", s.name, diff)
				}
			}
		})
	}
}

// appTest answers req through app.Test and reduces the response like
// parseResult does, without the headers only the wire has.
func appTest(t *testing.T, ta *testApp, r request) result {
	t.Helper()
	target := r.path
	if q := r.rawQuery(); q != "" {
		target += "?" + q
	}
	hr := httptest.NewRequest(r.method, target, bytes.NewReader(r.body))
	for _, kv := range r.headers {
		hr.Header.Add(kv[0], kv[1])
	}
	resp, err := ta.app.Test(hr, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := result{Status: resp.StatusCode, Headers: http.Header{}, Body: body}
	for k, vs := range resp.Header {
		switch k {
		case "Content-Length", "Date", "Connection":
		case "Set-Cookie":
			res.Cookies = append(res.Cookies, vs...)
		default:
			res.Headers[k] = []string{strings.Join(vs, ",")}
		}
	}
	slices.Sort(res.Cookies)
	return res
}

func TestResponseBodies(t *testing.T) {
	h, _ := mustHandler(t)
	cases := []struct {
		name       string
		path       string
		wantBody   []byte
		wantBase64 bool
	}{
		{"BinaryBase64Encoded", "/binary", binaryBody, true},
		{"LargeBinaryIntact", "/large", largeBody, true},
		{"LargeTextPlain", "/large-text", []byte(strings.Repeat("twelve bytes", 50<<10)), false},
		{"InvalidUTF8TextBase64Encoded", "/latin1", []byte("caf\xe9"), true},
		{"ContentEncodedJSONBase64Encoded", "/gzip", gzipJSON, true},
		{"JSONPlain", "/echo/x", nil, false},
		{"EmptyBodyPlain", "/nothing", []byte{}, false},
	}
	for _, tc := range cases {
		for _, s := range shapes {
			t.Run(tc.name+"/"+s.name, func(t *testing.T) {
				got := mustInvoke(t, h, t.Context(), s.build(request{method: "GET", path: tc.path, ip: "203.0.113.5"}))
				if got.Status != http.StatusOK || got.Base64 != tc.wantBase64 {
					t.Fatalf("status %d base64 %v, want 200 and %v", got.Status, got.Base64, tc.wantBase64)
				}
				if tc.wantBody != nil && !bytes.Equal(got.Body, tc.wantBody) {
					t.Fatalf("body differs: got %d bytes, want %d", len(got.Body), len(tc.wantBody))
				}
			})
		}
	}
}

func TestResponseShapes(t *testing.T) {
	h, _ := mustHandler(t)
	wantKeys := map[string][]string{
		"REST":          {"body", "isBase64Encoded", "multiValueHeaders", "statusCode"},
		"HTTPAPI":       {"body", "cookies", "headers", "isBase64Encoded", "statusCode"},
		"ALB":           {"body", "headers", "isBase64Encoded", "statusCode", "statusDescription"},
		"ALBMultiValue": {"body", "isBase64Encoded", "multiValueHeaders", "statusCode", "statusDescription"},
	}
	for _, s := range shapes {
		t.Run(s.name+"/EveryCookieKept", func(t *testing.T) {
			got := mustInvoke(t, h, t.Context(), s.build(request{method: "GET", path: "/cookies", ip: "203.0.113.5"}))
			if diff := cmp.Diff(wantKeys[s.name], got.Keys); diff != "" {
				t.Errorf("response keys (-want +got):\n%s", diff)
			}
			want := []string{
				"flag=on; path=/; SameSite=Lax",
				"session=abc; expires=Wed, 02 Jan 2030 03:04:05 GMT; path=/; HttpOnly; SameSite=Lax",
				"theme=dark; max-age=60; path=/; SameSite=Lax",
			}
			if diff := cmp.Diff(want, got.Cookies); diff != "" {
				t.Errorf("cookies (-want +got):\n%s", diff)
			}
			if v := got.Headers.Get("Vary"); v != "Accept, Cookie" {
				t.Errorf("Vary = %q, want %q", v, "Accept, Cookie")
			}
		})
		t.Run(s.name+"/NoContentWithoutBody", func(t *testing.T) {
			got := mustInvoke(t, h, t.Context(), s.build(request{method: "DELETE", path: "/item", ip: "203.0.113.5"}))
			if got.Status != http.StatusNoContent || len(got.Body) != 0 {
				t.Fatalf("got %d %q, want 204 and no body", got.Status, got.Body)
			}
			if strings.HasPrefix(s.name, "ALB") && got.StatusDescription != "204 No Content" {
				t.Errorf("statusDescription %q, want %q", got.StatusDescription, "204 No Content")
			}
		})
	}
}
