package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
)

// mainEnv marks the test binary re-executed as the switchboard binary.
const mainEnv = "SWITCHBOARD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Args = os.Args[:1]
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runtimeAPI is an in-process fake of the Lambda Runtime API that hands out
// the given events in order and collects the function's answers.
type runtimeAPI struct {
	*httptest.Server
	mu        sync.Mutex
	events    [][]byte
	next      int
	responses chan result
	stop      chan struct{}
}

type result struct {
	id   string
	body []byte
	err  bool
	at   time.Time
}

func newRuntimeAPI(t testing.TB, events ...[]byte) *runtimeAPI {
	api := &runtimeAPI{events: events, responses: make(chan result, len(events)), stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		i := api.next
		api.next++
		api.mu.Unlock()
		if i >= len(api.events) {
			select {
			case <-api.stop:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", fmt.Sprintf("req-%04d", i))
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:switchboard")
		_, _ = w.Write(api.events[i])
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/{kind}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		api.responses <- result{id: r.PathValue("id"), body: b, err: r.PathValue("kind") == "error", at: time.Now()}
		w.WriteHeader(http.StatusAccepted)
	})
	api.Server = httptest.NewServer(mux)
	t.Cleanup(func() { close(api.stop); api.Close() })
	return api
}

// startFunction runs this binary as the Lambda function against api.
func startFunction(t testing.TB, api *runtimeAPI, stderr io.Writer) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"=1",
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"),
		"DATA_DIR="+t.TempDir(), "LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func httpAPIEvent(method, rawPath, contentType, body string) []byte {
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": rawPath, "rawQueryString": "",
		"headers": map[string]string{"content-type": contentType, "host": "abc.execute-api.eu-west-1.amazonaws.com"},
		"requestContext": map[string]any{
			"http":      map[string]string{"method": method, "path": rawPath, "sourceIp": "203.0.113.9", "protocol": "HTTP/1.1"},
			"requestId": "apigw-1", "stage": "$default", "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
		},
		"body": body, "isBase64Encoded": false,
	}
	b, _ := json.Marshal(ev)
	return b
}

func TestLambdaMode(t *testing.T) {
	call := twiliotest.NewCall("AC" + strings.Repeat("1", 32))
	var logs syncBuffer
	api := newRuntimeAPI(t,
		httpAPIEvent("GET", "/healthz", "", ""),
		httpAPIEvent("POST", "/twilio/voice", "application/x-www-form-urlencoded", call.Form().Encode()),
		httpAPIEvent("POST", "/twilio/status", "application/x-www-form-urlencoded", call.Form("CallStatus", "completed").Encode()),
		[]byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`),
	)
	startFunction(t, api, &logs)
	want := []struct {
		status int
		body   string
	}{{200, `"status":"ok"`}, {200, "<Gather"}, {204, ""}, {0, `{"processed":1}`}}
	for i, w := range want {
		select {
		case r := <-api.responses:
			if r.err || r.id != fmt.Sprintf("req-%04d", i) {
				t.Fatalf("invocation %d: %s error=%v %s", i, r.id, r.err, r.body)
			}
			if w.status == 0 {
				if string(r.body) != w.body {
					t.Errorf("scheduled invocation answered %s, want %s", r.body, w.body)
				}
				continue
			}
			var resp struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			if err := json.Unmarshal(r.body, &resp); err != nil {
				t.Fatalf("invocation %d: %v: %s", i, err, r.body)
			}
			if resp.StatusCode != w.status || !strings.Contains(resp.Body, w.body) {
				t.Errorf("invocation %d: %d %s, want %d with %q", i, resp.StatusCode, resp.Body, w.status, w.body)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("no answer to invocation %d; function log:\n%s", i, logs.String())
		}
	}
	// The handlers log with the Lambda request id.
	if !strings.Contains(logs.String(), `"request_id":"req-0001"`) || !strings.Contains(logs.String(), `"call_sid":"`+call.CallSID+`"`) {
		t.Errorf("function logs lack the Lambda request id or the CallSid:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkLambdaColdStart measures process start to the first answered
// request in Lambda mode with the memory store.
func BenchmarkLambdaColdStart(b *testing.B) {
	for b.Loop() {
		api := newRuntimeAPI(b, httpAPIEvent("GET", "/healthz", "", ""))
		start := time.Now()
		startFunction(b, api, io.Discard)
		select {
		case r := <-api.responses:
			b.ReportMetric(float64(r.at.Sub(start).Microseconds())/1000, "ms-to-first-answer")
		case <-time.After(60 * time.Second):
			b.Fatal("no answer")
		}
	}
}
