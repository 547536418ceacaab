// Package bedrocktest is an in-process server speaking Amazon Bedrock's
// Converse REST API, so tests exercise the real AWS SDK over real HTTP
// (SigV4 signing, error shapes, slow answers) without an AWS account. It
// checks every request's signature against the test credentials, as AWS
// would, and each test decides every answer.
package bedrocktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"switchboard/assistant/bedrock"
)

// Test identity: the server checks every request's SigV4 signature with it.
const (
	Region = "us-east-1"
	KeyID  = "AKIDSWITCHBOARDTEST"
	Secret = "test-secret-key"
)

// ConverseRequest is the part of a Converse request tests check.
type ConverseRequest struct {
	System   []struct{ Text string } `json:"system"`
	Messages []struct {
		Role    string         `json:"role"`
		Content []ContentBlock `json:"content"`
	} `json:"messages"`
	InferenceConfig struct {
		MaxTokens   int     `json:"maxTokens"`
		Temperature float64 `json:"temperature"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				InputSchema struct {
					JSON map[string]any `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice *struct {
			Tool *struct {
				Name string `json:"name"`
			} `json:"tool"`
		} `json:"toolChoice"`
	} `json:"toolConfig"`
}

// ContentBlock is one block of a message's content: text, a tool use
// (an assistant's) or a tool result (a user's), as the Converse API
// shapes them.
type ContentBlock struct {
	Text    string `json:"text"`
	ToolUse *struct {
		ToolUseID string         `json:"toolUseId"`
		Name      string         `json:"name"`
		Input     map[string]any `json:"input"`
	} `json:"toolUse"`
	ToolResult *struct {
		ToolUseID string `json:"toolUseId"`
		Content   []struct {
			JSON map[string]any `json:"json"`
			Text string         `json:"text"`
		} `json:"content"`
		Status string `json:"status"`
	} `json:"toolResult"`
}

// Summary reports whether the request asks for a post-call summary rather
// than a spoken reply: only replies offer the end_call tool, and analyses
// their own.
func (c ConverseRequest) Summary() bool { return c.ToolConfig == nil }

// Analysis reports whether the request asks for a call's analysis: the
// model is made to call the one tool whose input schema is the analysis
// schema.
func (c ConverseRequest) Analysis() bool {
	return c.ToolConfig != nil && c.ToolConfig.ToolChoice != nil && c.ToolConfig.ToolChoice.Tool != nil
}

// Request is one correctly signed request as the server saw it.
type Request struct {
	At      time.Time
	ModelID string
	// Stream: the request was ConverseStream's (…/converse-stream).
	Stream bool
	Body   ConverseRequest
	// RawErr is the error decoding the body, nil when it was valid JSON.
	RawErr error
}

// Responder decides the answer to signed request n (0-based, in arrival
// order). It runs in the server's handler goroutine and may block; a
// blocking responder should also watch r.Context() so the server can close.
type Responder func(n int, w http.ResponseWriter, r *http.Request)

// Server is a running fake. Create it with New.
type Server struct {
	srv      *httptest.Server
	newConns atomic.Int64
	respond  Responder

	mu   sync.Mutex
	reqs []Request
}

// New starts a fake answering with respond; it is closed when the test ends.
// Unsigned or wrongly signed requests get 403, as from AWS, and are not
// passed to respond.
func New(t testing.TB, respond Responder) *Server {
	t.Helper()
	s := &Server{respond: respond}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.newConns.Add(1)
		}
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/model/")
	id, stream := strings.CutSuffix(id, "/converse-stream")
	ok2 := stream
	if !stream {
		id, ok2 = strings.CutSuffix(id, "/converse")
	}
	if r.Method != http.MethodPost || !ok || !ok2 {
		AWSError(w, http.StatusNotFound, "UnknownOperationException", "no such operation")
		return
	}
	b, _ := io.ReadAll(r.Body)
	if err := verifySigV4(r, b); err != nil {
		AWSError(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	rec := Request{At: time.Now(), ModelID: id, Stream: stream}
	rec.RawErr = json.Unmarshal(b, &rec.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	s.respond(n, w, r)
}

// Requests returns every signed request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Request returns signed request n; responders use it to answer by content.
func (s *Server) Request(n int) Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[n]
}

// URL is the endpoint to point a client at (BEDROCK_ENDPOINT).
func (s *Server) URL() string { return s.srv.URL }

// NewConns counts the TCP connections clients opened, to show reuse.
func (s *Server) NewConns() int64 { return s.newConns.Load() }

// Client is a Bedrock runtime client signed with the test credentials and
// pointed at the server.
func (s *Server) Client() *bedrockruntime.Client {
	return bedrockruntime.NewFromConfig(aws.Config{
		// As the assistant's production client does.
		HTTPClient:  bedrock.BufferBodies(awshttp.NewBuildableClient()),
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(KeyID, Secret, ""),
	}, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(s.srv.URL) })
}

// verifySigV4 recomputes the request's signature over the headers it says
// it signed, with the test credentials, and compares.
func verifySigV4(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	scope := fmt.Sprintf("Credential=%s/", KeyID)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, scope) ||
		!strings.Contains(auth, "/"+Region+"/bedrock/aws4_request") {
		return fmt.Errorf("not a SigV4 bedrock signature for %s: %q", KeyID, auth)
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
	creds := aws.Credentials{AccessKeyID: KeyID, SecretAccessKey: Secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, check, hex.EncodeToString(sum[:]), "bedrock", Region, at); err != nil {
		return err
	}
	if got := check.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return nil
}

// AWSError answers like an AWS JSON service error.
func AWSError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

// WriteJSON answers with status and a JSON body.
func WriteJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// TextOutput is a Converse answer with text content.
func TextOutput(text string) string {
	b, _ := json.Marshal(map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"text": text}}}},
		"stopReason": "end_turn",
		"usage":      map[string]any{"inputTokens": 31, "outputTokens": 6, "totalTokens": 37},
		"metrics":    map[string]any{"latencyMs": 5},
	})
	return string(b)
}

// ToolUseOutput is a Converse answer calling one tool.
func ToolUseOutput(name string, input map[string]any) string {
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

// Always answers every request the same way.
func Always(status int, body string) Responder {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { WriteJSON(w, status, body) }
}
