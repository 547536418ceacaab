package handlers_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/assistant/openai"
	"switchboard/assistant/openai/openaitest"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// The tests below run the model-backed assistants behind the real webhooks:
// signed Twilio requests over HTTP to a servicetest instance whose assistant
// talks over HTTP to an in-process fake of the provider's API.

const businessPrompt = "You answer calls for Rosa's Bakery on Main Street."

// msg is one history message as a provider received it, in its own roles
// ("user", "assistant").
type msg struct{ Role, Text string }

// modelRequest is a request as either fake received it.
type modelRequest struct {
	Summary  bool
	System   string
	Messages []msg // the history, without OpenAI's leading system message
}

// modelAnswer is what the fake model does with one request.
type modelAnswer struct {
	Text     string
	EndCall  bool
	Farewell string
	// Status, when set, is an HTTP error status sent instead of an answer.
	Status int
	// Raw, when set, is sent as is with 200: a malformed answer.
	Raw string
	// Delay is waited before answering, unless the client gives up first.
	Delay time.Duration
}

// script decides the answer to request n (0-based, replies and summaries
// alike, in arrival order).
type script func(n int, req modelRequest) modelAnswer

// backend is one provider with its fake.
type backend struct {
	name     string
	provider string // the metric and log label
	model    string
	// opening precedes the greeting in every reply history.
	opening []msg
	start   func(t testing.TB, s script, deps assistant.Deps) fakeModel
}

// fakeModel is an assistant wired to a running fake.
type fakeModel struct {
	assistant.Assistant
	requests func() []modelRequest
}

var backends = []backend{
	{name: "OpenAI", provider: "openai", model: "test-model", start: startOpenAI},
	{
		name: "Bedrock", provider: "bedrock", model: "anthropic.claude-3-haiku-20240307-v1:0",
		// Converse requires the first message to be the user's.
		opening: []msg{{"user", "(The call is connected.)"}},
		start:   startBedrock,
	},
}

func startOpenAI(t testing.TB, s script, deps assistant.Deps) fakeModel {
	t.Helper()
	var f *openaitest.Server
	f = openaitest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		a := s(n, openaiRequest(f.Request(n)))
		if !waitOrGone(r, a.Delay) {
			return
		}
		switch {
		case a.Status != 0:
			openaitest.WriteJSON(w, a.Status, `{"error":{"message":"fake failure","type":"server_error"}}`)
		case a.Raw != "":
			openaitest.WriteJSON(w, http.StatusOK, a.Raw)
		case a.EndCall:
			args, _ := json.Marshal(map[string]string{"farewell": a.Farewell})
			openaitest.WriteJSON(w, http.StatusOK, openaitest.ToolCall(assistant.EndCallTool, string(args)))
		default:
			openaitest.WriteJSON(w, http.StatusOK, openaitest.Completion(a.Text))
		}
	})
	a, err := openai.New(openai.Config{
		BaseURL: f.BaseURL(), APIKey: "test-key", Model: "test-model",
		Temperature: 0.3, MaxTokens: 150, StructuredOutput: true,
	}, deps)
	if err != nil {
		t.Fatalf("openai.New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return fakeModel{
		Assistant: a,
		requests: func() []modelRequest {
			var out []modelRequest
			for _, r := range f.Requests() {
				out = append(out, openaiRequest(r))
			}
			return out
		},
	}
}

func openaiRequest(r openaitest.Request) modelRequest {
	mr := modelRequest{Summary: r.Body.Summary()}
	for i, m := range r.Body.Messages {
		if i == 0 && m.Role == "system" {
			mr.System = m.Content
			continue
		}
		mr.Messages = append(mr.Messages, msg{m.Role, m.Content})
	}
	return mr
}

func startBedrock(t testing.TB, s script, deps assistant.Deps) fakeModel {
	t.Helper()
	var f *bedrocktest.Server
	f = bedrocktest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		a := s(n, bedrockRequest(f.Request(n)))
		if !waitOrGone(r, a.Delay) {
			return
		}
		switch {
		case a.Status == http.StatusTooManyRequests:
			bedrocktest.AWSError(w, a.Status, "ThrottlingException", "Too many requests, please wait before trying again.")
		case a.Status != 0:
			bedrocktest.AWSError(w, a.Status, "InternalServerException", "fake failure")
		case a.Raw != "":
			bedrocktest.WriteJSON(w, http.StatusOK, a.Raw)
		case a.EndCall:
			bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.ToolUseOutput(assistant.EndCallTool, map[string]any{"farewell": a.Farewell}))
		default:
			bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.TextOutput(a.Text))
		}
	})
	a, err := bedrock.NewWithClient(f.Client(), bedrock.Config{
		ModelID: "anthropic.claude-3-haiku-20240307-v1:0", Temperature: 0.3, MaxTokens: 150,
	}, deps)
	if err != nil {
		t.Fatalf("bedrock.NewWithClient: %v", err)
	}
	return fakeModel{
		Assistant: a,
		requests: func() []modelRequest {
			var out []modelRequest
			for _, r := range f.Requests() {
				out = append(out, bedrockRequest(r))
			}
			return out
		},
	}
}

func bedrockRequest(r bedrocktest.Request) modelRequest {
	mr := modelRequest{Summary: r.Body.Summary()}
	for _, s := range r.Body.System {
		mr.System += s.Text
	}
	for _, m := range r.Body.Messages {
		var text []string
		for _, c := range m.Content {
			text = append(text, c.Text)
		}
		mr.Messages = append(mr.Messages, msg{m.Role, strings.Join(text, " ")})
	}
	return mr
}

// waitOrGone waits d, and reports false when the client gave up first.
func waitOrGone(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// rig is a switchboard instance whose assistant talks to a fake model.
type rig struct {
	*servicetest.Instance
	model fakeModel
	// aiMetrics holds the assistant's per-turn metrics.
	aiMetrics *prometheus.Registry
	logs      *syncLog
	cfg       assistant.ModelConfig
}

// startRig starts an instance on b's fake answering with s. tune adjusts the
// configuration (the model's included) and the instance options before
// start; the handlers' turn deadline follows ASSISTANT_TURN_TIMEOUT through
// the service's wiring.
func startRig(t testing.TB, b backend, s script, tune func(*service.Config, *servicetest.Options)) *rig {
	t.Helper()
	o := servicetest.Options{NoWorkers: true}
	configure := func(c *service.Config, o *servicetest.Options) {
		c.Model.Prompt = businessPrompt
		c.MaxFailures = 3
		if tune != nil {
			tune(c, o)
		}
	}
	// The model is built before the instance, from the same settings.
	probe := service.Defaults()
	configure(&probe, &o)
	mc := probe.Model
	o.Configure = func(c *service.Config) { configure(c, &servicetest.Options{}) }
	reg := prometheus.NewRegistry()
	m, err := assistant.NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	logs := &syncLog{}
	model := b.start(t, s, assistant.Deps{Config: mc, Metrics: m, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	o.Assistant = model
	return &rig{Instance: servicetest.Start(t, o), model: model, aiMetrics: reg, logs: logs, cfg: mc}
}

// answerCall sends the incoming-call webhook and checks the greeting asks
// for turn 1.
func (r *rig) answerCall(t testing.TB) twiliotest.Call {
	t.Helper()
	call := twiliotest.NewCall(servicetest.AccountSID)
	resp := r.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	tw := parseTwiML(t, resp)
	if len(tw.Says) != 1 || tw.Says[0] != r.cfg.Greeting || tw.Gather != "/twilio/gather?turn=1" {
		t.Fatalf("greeting TwiML = %+v", tw)
	}
	return call
}

// say delivers caller turn n and returns the TwiML and how long the
// webhook took.
func (r *rig) say(t testing.TB, call twiliotest.Call, n int, words string) (twiml, time.Duration) {
	t.Helper()
	start := time.Now()
	resp := r.Webhook("/twilio/gather?turn="+itoa(n), call.Form("SpeechResult", words, "Confidence", "0.91", "CallStatus", "in-progress"))
	took := time.Since(start)
	return parseTwiML(t, resp), took
}

// twiml is what a TwiML answer makes the caller hear and what comes next.
type twiml struct {
	Says []string
	// Gather is the next <Gather>'s action, "" when there is none.
	Gather string
	Hangup bool
}

func parseTwiML(t testing.TB, r servicetest.Response) twiml {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("webhook answered %d, want 200 TwiML: %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Fatalf("content type %q, want text/xml", ct)
	}
	if !strings.HasPrefix(r.Body, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Fatalf("TwiML does not start with the XML declaration: %q", r.Body)
	}
	type say struct {
		Text string `xml:",chardata"`
	}
	var doc struct {
		XMLName xml.Name `xml:"Response"`
		Say     []say    `xml:"Say"`
		Gather  []struct {
			Action string `xml:"action,attr"`
			Say    []say  `xml:"Say"`
		} `xml:"Gather"`
		Hangup []struct{} `xml:"Hangup"`
	}
	if err := xml.Unmarshal([]byte(r.Body), &doc); err != nil {
		t.Fatalf("TwiML does not parse: %v\n%s", err, r.Body)
	}
	var tw twiml
	for _, s := range doc.Say {
		tw.Says = append(tw.Says, s.Text)
	}
	if len(doc.Gather) > 1 {
		t.Fatalf("TwiML has %d <Gather>s: %s", len(doc.Gather), r.Body)
	}
	for _, g := range doc.Gather {
		// Actions are absolute under the public base URL; the tests
		// compare the path and query.
		tw.Gather = strings.TrimPrefix(g.Action, servicetest.PublicBaseURL)
		for _, s := range g.Say {
			tw.Says = append(tw.Says, s.Text)
		}
	}
	tw.Hangup = len(doc.Hangup) > 0
	return tw
}

// replies returns the reply requests the fake received, oldest first.
func (r *rig) replies() []modelRequest {
	var out []modelRequest
	for _, q := range r.model.requests() {
		if !q.Summary {
			out = append(out, q)
		}
	}
	return out
}

// metricSum adds up the samples of a metric family whose labels include
// want: counter values, or histogram sample counts.
func metricSum(t testing.TB, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// syncLog is a JSON log sink safe for the handlers and the test to share.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the decoded log records whose message is msg.
func (s *syncLog) records(t testing.TB, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
