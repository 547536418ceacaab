package handlers_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
)

// bomb returns size zero bytes compressed by enc, nested as the
// comma-separated Content-Encoding says (applied left to right).
func bomb(t testing.TB, encoding string, size int) []byte {
	t.Helper()
	body := bytes.Repeat([]byte{0}, size)
	for _, enc := range strings.Split(encoding, ",") {
		var b bytes.Buffer
		var w io.WriteCloser
		switch strings.ToLower(strings.TrimSpace(enc)) {
		case "identity":
			continue
		case "gzip", "x-gzip":
			w, _ = gzip.NewWriterLevel(&b, gzip.BestCompression)
		case "deflate":
			w, _ = flate.NewWriter(&b, flate.BestCompression)
		case "br":
			w = brotli.NewWriterLevel(&b, brotli.BestCompression)
		default:
			return []byte("claimed, not applied") // an encoding the sender only claims
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		body = b.Bytes()
	}
	return body
}

// TestCompressedBodiesRefused: any Content-Encoding but identity is refused
// with 415 before anything inflates the body, on webhooks (signed or not)
// and the API, over the real listener.
func TestCompressedBodiesRefused(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)
	form := call.Form("CallStatus", "ringing")
	encodings := []string{"gzip", "gzip, gzip", "br", "deflate", "x-gzip", "GZIP", "identity, gzip", "zstd", "compress", "snappy"}
	for _, enc := range encodings {
		t.Run("Webhook/"+enc, func(t *testing.T) {
			body := bomb(t, enc, 2<<20)
			if len(body) > 64<<10 {
				t.Fatalf("bomb of %d bytes does not fit the body limit", len(body))
			}
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			req.Header.Set("Content-Encoding", enc)
			r := in.Do(req)
			if r.Status != http.StatusUnsupportedMediaType || !strings.Contains(r.Body, `"code":"unsupported_media_type"`) {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
		t.Run("API/"+enc, func(t *testing.T) {
			body := bomb(t, enc, 1<<20)
			req, _ := http.NewRequest(http.MethodDelete, in.URL+"/api/v1/calls/"+call.CallSID, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
			req.Header.Set("Content-Encoding", enc)
			if r := in.Do(req); r.Status != http.StatusUnsupportedMediaType {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("SecondHeaderLine", func(t *testing.T) {
		resp := rawRequest(t, in.URL, "POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Encoding: identity\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b")
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("OKIdentity", func(t *testing.T) {
		req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
		req.Header.Set("Content-Encoding", "identity")
		if r := in.Do(req); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	if n := len(in.GetCall(call.CallSID).Turns); n != 1 {
		t.Errorf("call has %d turns; the refused requests stored something", n)
	}
}

// TestOtherBodiesRefused: a webhook is a form; multipart and other bodies
// are refused with 415 (fasthttp does not pre-parse multipart first).
func TestOtherBodiesRefused(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	for k, v := range call.Form("CallStatus", "ringing") {
		_ = w.WriteField(k, v[0])
	}
	for i := range 50 {
		fw, _ := w.CreateFormFile(fmt.Sprintf("f%d", i), "x.bin")
		_, _ = fw.Write([]byte("data"))
	}
	_ = w.Close()
	cases := map[string]struct{ ct, body string }{
		"Multipart": {w.FormDataContentType(), mp.String()},
		"JSON":      {"application/json", `{"CallSid":"` + call.CallSID + `"}`},
		"Text":      {"text/plain", "CallSid=" + call.CallSID},
		"None":      {"", "CallSid=" + call.CallSID},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, in.URL+"/twilio/voice", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, servicetest.PublicBaseURL+"/twilio/voice", url.Values{}))
			if r := in.Do(req); r.Status != http.StatusUnsupportedMediaType {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
	if _, err := in.Calls.GetCall(t.Context(), call.CallSID); err == nil {
		t.Error("a refused body created the call")
	}
}

// rawRequest writes raw bytes to the server and reads one response.
func rawRequest(t *testing.T, base, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestAmbiguousFramingRefused: Content-Length with Transfer-Encoding is the
// shape of request smuggling: refused, and the connection closed so the
// bytes after it are never read as a request.
func TestAmbiguousFramingRefused(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	for _, te := range []string{"chunked", "gzip, chunked", "Chunked"} {
		t.Run(te, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(in.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			smuggled := "GET /api/v1/calls HTTP/1.1\r\nHost: x\r\n\r\n"
			chunk := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 3, "a=b")
			raw := "POST /twilio/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
				"Content-Length: 4\r\nTransfer-Encoding: " + te + "\r\n\r\n" + chunk + smuggled
			if _, err := io.WriteString(conn, raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Transfer-Encoding") {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			if rest, err := io.ReadAll(br); len(rest) > 0 || err != nil {
				t.Fatalf("the connection stayed open and answered %q (%v)", rest, err)
			}
		})
	}
}

// TestMethods: a known route with the wrong method answers 405 with Allow,
// an unknown method 501, both in the JSON error shape.
func TestMethods(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	sid := "CA" + strings.Repeat("0", 32)
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/api/v1/calls", 405, "GET, HEAD"},
		{"PUT", "/api/v1/calls/" + sid, 405, "DELETE, GET, HEAD"},
		{"PATCH", "/api/v1/calls/" + sid + "/recordings/RE" + strings.Repeat("0", 32) + "/audio", 405, "GET, HEAD"},
		{"GET", "/twilio/voice", 405, "POST"},
		{"DELETE", "/healthz", 405, "GET, HEAD"},
		{"OPTIONS", "/readyz", 405, "GET, HEAD"},
		{"GET", "/api/v1/nothing", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, in.URL+tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
			r := in.Do(req)
			if r.Status != tc.status || !strings.Contains(r.Body, `"error":{"code":`) {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	for _, m := range []string{"BREW", "PROPFIND", "get"} {
		t.Run("Unknown"+m, func(t *testing.T) {
			resp := rawRequest(t, in.URL, m+" /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), `"code":"not_implemented"`) {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestMetricsSurviveTraffic: ordinary traffic of every method over reused
// keep-alive connections, then /metrics still answers and every method
// label is one of the fixed set. (A label that aliased fasthttp's request
// buffer became "GETT" or "GETCE" when a later request rewrote it, and the
// registry then failed with duplicate series.)
func TestMetricsSurviveTraffic(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, MaxConnsPerHost: 2}}
	methods := []string{"GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD", "TRACE"}
	paths := []string{"/healthz", "/api/v1/calls", "/twilio/voice", "/nothing", "/api/v1/calls/CA" + strings.Repeat("1", 32)}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 150 {
				m, p := methods[(i+w)%len(methods)], paths[(i*7+w)%len(paths)]
				req, _ := http.NewRequest(m, in.URL+p, strings.NewReader("x=1"))
				req.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	r := in.API("GET", "/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", r.Status, r.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	fam := families["switchboard_http_request_duration_seconds"]
	if fam == nil {
		t.Fatal("no request metrics")
	}
	allowed := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true, "OTHER": true}
	seen := map[string]bool{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" {
				if !allowed[l.GetValue()] {
					t.Errorf("method label %q", l.GetValue())
				}
				seen[l.GetValue()] = true
			}
		}
	}
	if len(seen) < 6 {
		t.Errorf("method labels seen: %v", seen)
	}
}

// TestErrorsLoggedOnce: an error becomes its response, and its log line,
// in one place, whatever middleware it passed through.
func TestErrorsLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	in := servicetest.Start(t, servicetest.Options{Log: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))})
	call := twiliotest.NewCall(servicetest.AccountSID)
	forged := servicetest.SignedRequest(t, in.URL, "/twilio/voice", call.Form())
	forged.Header.Set("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
	requests := []*http.Request{forged}
	missing, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/calls/CA"+strings.Repeat("0", 32), nil)
	missing.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
	requests = append(requests, missing)
	for _, req := range requests {
		r := in.Do(req)
		id := r.Header.Get("X-Request-Id")
		mu.Lock()
		n := strings.Count(logs.String(), `"request_id":"`+id+`"`)
		mu.Unlock()
		if n != 1 {
			t.Errorf("%s %s (%d): %d log lines for request %s, want 1:\n%s", req.Method, req.URL.Path, r.Status, n, id, logs.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
