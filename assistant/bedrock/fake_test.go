package bedrock_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
)

// Test identity: the fake checks every request's SigV4 signature with it.
const (
	testRegion = "us-east-1"
	testKeyID  = "AKIDSWITCHBOARDTEST"
	testSecret = "test-secret-key"
	testModel  = "anthropic.claude-3-haiku-20240307-v1:0"
)

// converseRequest is the part of a Converse request the fake checks.
type converseRequest struct {
	System   []struct{ Text string } `json:"system"`
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"messages"`
	InferenceConfig struct {
		MaxTokens   int     `json:"maxTokens"`
		Temperature float64 `json:"temperature"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec struct {
				Name        string `json:"name"`
				InputSchema struct {
					JSON map[string]any `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
	} `json:"toolConfig"`
}

// received is one request as the fake saw it.
type received struct {
	at      time.Time
	modelID string
	body    converseRequest
	rawErr  error
}

// fakeBedrock speaks the Converse REST API: POST /model/{modelId}/converse,
// signed with SigV4. Unsigned or wrongly signed requests get 403, as from
// AWS. respond decides each answer from the request's index (0-based).
type fakeBedrock struct {
	srv      *httptest.Server
	newConns atomic.Int64
	respond  func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []received
}

func newFake(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *fakeBedrock {
	t.Helper()
	f := &fakeBedrock{respond: respond}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.newConns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBedrock) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/model/")
	id, ok2 := strings.CutSuffix(id, "/converse")
	if r.Method != http.MethodPost || !ok || !ok2 {
		awsError(w, http.StatusNotFound, "UnknownOperationException", "no such operation")
		return
	}
	b, _ := io.ReadAll(r.Body)
	if err := verifySigV4(r, b); err != nil {
		awsError(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	rec := received{at: time.Now(), modelID: id}
	rec.rawErr = json.Unmarshal(b, &rec.body)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()
	f.respond(n, w, r)
}

func (f *fakeBedrock) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// verifySigV4 recomputes the request's signature over the headers it says
// it signed, with the test credentials, and compares.
func verifySigV4(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	scope := fmt.Sprintf("Credential=%s/", testKeyID)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, scope) ||
		!strings.Contains(auth, "/"+testRegion+"/bedrock/aws4_request") {
		return fmt.Errorf("not a SigV4 bedrock signature for %s: %q", testKeyID, auth)
	}
	var signed []string
	for part := range strings.SplitSeq(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "SignedHeaders="); ok {
			signed = strings.Split(v, ";")
		}
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date: %v", err)
	}
	check, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	check.Host = r.Host
	check.ContentLength = r.ContentLength
	for _, h := range signed {
		if h != "host" && h != "content-length" {
			check.Header[textproto.CanonicalMIMEHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, check, hex.EncodeToString(sum[:]), "bedrock", testRegion, at); err != nil {
		return err
	}
	if got := check.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return nil
}

// awsError answers like an AWS JSON service error.
func awsError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// textOutput is a Converse answer with text content.
func textOutput(text string) string {
	b, _ := json.Marshal(map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"text": text}}}},
		"stopReason": "end_turn",
		"usage":      map[string]any{"inputTokens": 31, "outputTokens": 6, "totalTokens": 37},
		"metrics":    map[string]any{"latencyMs": 5},
	})
	return string(b)
}

// toolUseOutput is a Converse answer calling one tool.
func toolUseOutput(name string, input map[string]any) string {
	b, _ := json.Marshal(map[string]any{
		"output": map[string]any{"message": map[string]any{"role": "assistant", "content": []any{
			map[string]any{"toolUse": map[string]any{"toolUseId": "tooluse_1", "name": name, "input": input}},
		}}},
		"stopReason": "tool_use",
		"usage":      map[string]any{"inputTokens": 40, "outputTokens": 8, "totalTokens": 48},
		"metrics":    map[string]any{"latencyMs": 5},
	})
	return string(b)
}

func always(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, status, body) }
}

// testEnv is an assistant wired to a fake, with its metrics.
type testEnv struct {
	a   *bedrock.Assistant
	reg *prometheus.Registry
}

// mustAssistant builds the assistant on a client signed with the static
// test credentials and pointed at the fake.
func mustAssistant(t testing.TB, f *fakeBedrock, tune func(*assistant.ModelConfig)) testEnv {
	t.Helper()
	mc := assistant.DefaultModelConfig()
	mc.Prompt = "You answer calls for Rosa's Bakery on Main Street."
	if tune != nil {
		tune(&mc)
	}
	reg := prometheus.NewRegistry()
	m, err := assistant.NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	client := bedrockruntime.NewFromConfig(aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
	}, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(f.srv.URL) })
	a, err := bedrock.NewWithClient(client, bedrock.Config{ModelID: testModel, Temperature: 0.3, MaxTokens: 150},
		assistant.Deps{Config: mc, Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewWithClient: %v", err)
	}
	return testEnv{a: a, reg: reg}
}
