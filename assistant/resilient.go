package assistant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"switchboard/storage"
)

// Provider is one model API as the shared layer sees it: each Chat is a
// single attempt, without retries of its own, bounded by ctx. Failures are
// reported as *StatusError (an HTTP error status), *MalformedError (an answer
// that cannot be understood) or the transport's own error, so that
// Resilient treats every provider the same way.
type Provider interface {
	Chat(ctx context.Context, req ChatRequest) (ChatResponse, error)
}

// ChatRequest is one request to a model.
type ChatRequest struct {
	// System is the system prompt: configuration only, never caller text.
	System   string
	Messages []Message
	// EndCall offers the end_call tool.
	EndCall bool
	// Tools are offered besides end_call.
	Tools []ToolSpec
	// JSON asks for a JSON object matching SummarySchema, or Schema when
	// set (structured output where the provider has it).
	JSON   bool
	Schema *Schema
	// MaxTokens overrides the provider's configured reply bound when > 0.
	MaxTokens int
	// Model and Temperature override the provider's configured ones when
	// set: the call's assistant chose them.
	Model       string
	Temperature *float64
}

// ChatResponse is a model's answer to one request.
type ChatResponse struct {
	// Text is the model's text, or the farewell when EndCall is set.
	Text string
	// EndCall: the model called the end_call tool.
	EndCall bool
	// Tools are the other tools the model called.
	Tools     []ToolUse
	TokensIn  int64
	TokensOut int64
}

// summaryMaxTokens bounds a summary or an analysis, which are longer than
// a spoken reply.
const summaryMaxTokens = 800

// callSettings are what one call's assistant version sets, over the
// deployment's configuration.
type callSettings struct {
	business      string
	goodbye       string
	maxReplyChars int
	model         string
	temperature   *float64
	maxTokens     int
	schema        json.RawMessage
}

// settings resolves c's assistant over r's configuration: zero fields of
// the assistant keep the deployment's.
func (r *Resilient) settings(c Conversation) callSettings {
	cs := callSettings{business: r.business, goodbye: r.cfg.Goodbye, maxReplyChars: r.cfg.MaxReplyChars}
	a := c.Assistant
	if a == nil {
		return cs
	}
	if p := strings.TrimSpace(a.Prompt); p != "" {
		cs.business = p
	}
	if a.Goodbye != "" {
		cs.goodbye = a.Goodbye
	}
	if a.Speech.MaxReplyChars > 0 {
		cs.maxReplyChars = a.Speech.MaxReplyChars
	}
	cs.model, cs.temperature, cs.maxTokens, cs.schema = a.Model.Name, a.Model.Temperature, a.Model.MaxTokens, a.AnalysisSchema
	return cs
}

// turnRequest is the request answering the caller's last turn, with the
// call's model choices and, for an assistant with tools or transfer
// targets, those on offer; ErrInvalid when the conversation does not end
// with the caller's words.
func (r *Resilient) turnRequest(c Conversation) (ChatRequest, callSettings, error) {
	msgs := History(c.Turns)
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != storage.RoleCaller {
		return ChatRequest{}, callSettings{}, &ModelError{Kind: storage.ErrInvalid, Outcome: OutcomeError,
			Msg: "the conversation does not end with the caller's words"}
	}
	cs := r.settings(c)
	req := cs.request(ChatRequest{System: SystemPrompt(cs.business, c.Language), Messages: msgs, EndCall: true})
	if HasActions(c.Assistant) {
		req.Tools = ToolSpecs(c.Assistant)
	}
	return req, cs, nil
}

// modelOf is the model req names, else the deployment's: the metrics' label.
func (r *Resilient) modelOf(req ChatRequest) string {
	if req.Model != "" {
		return req.Model
	}
	return r.model
}

// request is a request with the call's model choices.
func (cs callSettings) request(req ChatRequest) ChatRequest {
	req.Model, req.Temperature = cs.model, cs.temperature
	if req.MaxTokens == 0 {
		req.MaxTokens = cs.maxTokens
	}
	return req
}

// Retry pacing inside a deadline: short, jittered waits, and no new attempt
// when too little time would be left for it to finish.
const (
	backoffBase = 150 * time.Millisecond
	backoffMax  = time.Second
	minAttempt  = 250 * time.Millisecond
)

// Resilient makes a Provider an Assistant that a caller on the line can rely
// on: every reply is bounded by the turn deadline (retries included), failed
// attempts are retried only when another attempt can help and fits in the
// time left, replies are shaped for speech, and every turn is measured and
// logged. The model-backed assistants are a Provider wrapped in Resilient.
type Resilient struct {
	provider string
	model    string
	p        Provider
	cfg      ModelConfig
	business string
	metrics  *Metrics
	log      *slog.Logger
	tools    ToolRunner
}

var _ Assistant = (*Resilient)(nil)

// NewResilient wraps p, which talks to model at provider (both used as
// metric labels and in logs). It validates deps.Config and reads the system
// prompt once; configuration errors wrap storage.ErrInvalid.
func NewResilient(provider, model string, p Provider, deps Deps) (*Resilient, error) {
	if err := deps.Config.Validate(); err != nil {
		return nil, storage.Wrap(storage.ErrInvalid, err, "invalid assistant configuration")
	}
	business, err := LoadPrompt(deps.Config)
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Resilient{
		provider: provider,
		model:    model,
		p:        p,
		cfg:      deps.Config,
		business: business,
		metrics:  deps.Metrics,
		log:      log,
		tools:    deps.Tools,
	}, nil
}

// Greet returns the configured greeting without asking the model, so the
// incoming-call webhook never waits for a provider.
func (r *Resilient) Greet(ctx context.Context, c Conversation) (Reply, error) {
	return Reply{Text: r.cfg.Greeting}, nil
}

// Reply asks the model to answer the caller's last turn within the turn
// deadline (ASSISTANT_TURN_TIMEOUT, or ctx's deadline when earlier). A call
// to end_call gives EndCall with the model's farewell or the configured
// goodbye. Errors are *ModelError: storage.ErrUnavailable when the provider
// failed, timed out or answered nonsense, storage.ErrInvalid when the
// conversation does not end with the caller's words.
func (r *Resilient) Reply(ctx context.Context, c Conversation) (Reply, error) {
	req, cs, err := r.turnRequest(c)
	if err != nil {
		return Reply{}, err
	}
	if len(req.Tools) > 0 {
		return r.replyWithTools(ctx, c, cs, req)
	}
	return run(ctx, r, "reply", c.CallSID, r.cfg.TurnTimeout, r.cfg.AttemptTimeout, req,
		func(resp ChatResponse) (Reply, error) {
			text := Speakable(resp.Text, cs.maxReplyChars)
			if resp.EndCall {
				if text == "" {
					text = cs.goodbye
				}
				return Reply{Text: text, EndCall: true}, nil
			}
			if text == "" {
				return Reply{}, &MalformedError{What: "reply has no speakable text"}
			}
			return Reply{Text: text}, nil
		})
}

// Summarize asks the model for the post-call summary within
// ASSISTANT_SUMMARY_TIMEOUT. It runs as background work, which retries
// durably, so its errors (the same *ModelError as Reply's) are worth
// retrying later. A call in which the caller never spoke is summarized
// without asking the model.
func (r *Resilient) Summarize(ctx context.Context, c Conversation) (storage.Summary, error) {
	msgs := History(c.Turns)
	spoke := false
	for _, m := range msgs {
		spoke = spoke || m.Role == storage.RoleCaller && m.Text != ""
	}
	if !spoke {
		return storage.Summary{
			Text:      "The caller did not say anything before the call ended.",
			Reason:    "unknown",
			Outcome:   "no conversation",
			CreatedAt: time.Now().UTC(),
		}, nil
	}
	cs := r.settings(c)
	req := cs.request(ChatRequest{
		System:    SummaryPrompt(cs.business),
		Messages:  []Message{{Role: storage.RoleCaller, Text: Transcript(c.Turns)}},
		JSON:      true,
		MaxTokens: summaryMaxTokens,
	})
	attempt := r.cfg.SummaryTimeout / 2
	return run(ctx, r, "summary", c.CallSID, r.cfg.SummaryTimeout, attempt, req,
		func(resp ChatResponse) (storage.Summary, error) { return ParseSummary(resp.Text) })
}

// Analyze asks the model to fill the call's assistant's analysis schema
// in, as structured output where the provider has it, within
// ASSISTANT_SUMMARY_TIMEOUT. An answer that is not a JSON object valid
// against the schema is a malformed one: the attempt fails, and the
// analysis work is retried later by the worker, as a summary is.
func (r *Resilient) Analyze(ctx context.Context, c Conversation) (json.RawMessage, error) {
	cs := r.settings(c)
	schema, err := analysisSchema(cs.schema)
	if err != nil {
		return nil, err
	}
	req := cs.request(ChatRequest{
		System:    AnalysisPrompt(cs.business),
		Messages:  []Message{{Role: storage.RoleCaller, Text: Transcript(c.Turns)}},
		JSON:      true,
		Schema:    schema,
		MaxTokens: summaryMaxTokens,
	})
	attempt := r.cfg.SummaryTimeout / 2
	return run(ctx, r, "analysis", c.CallSID, r.cfg.SummaryTimeout, attempt, req,
		func(resp ChatResponse) (json.RawMessage, error) { return ParseAnalysis(resp.Text, schema) })
}

// analysisSchema compiles an assistant's schema; its absence or invalidity
// is the conversation's fault, not the provider's.
func analysisSchema(raw json.RawMessage) (*Schema, error) {
	if !storage.HasSchema(raw) {
		return nil, &ModelError{Kind: storage.ErrInvalid, Outcome: OutcomeError, Msg: "the assistant has no analysis schema"}
	}
	schema, err := CompileSchema(raw)
	if err != nil {
		return nil, &ModelError{Kind: storage.ErrInvalid, Outcome: OutcomeError, Msg: "the analysis schema " + storage.Message(err)}
	}
	return schema, nil
}

// ParseAnalysis reads a model's analysis: the JSON object in text (servers
// without structured output may wrap it in prose or a code fence), valid
// against schema; anything else is a MalformedError.
func ParseAnalysis(text string, schema *Schema) (json.RawMessage, error) {
	start, end := strings.Index(text, "{"), strings.LastIndex(text, "}")
	if start < 0 || end < start {
		return nil, &MalformedError{What: "analysis is not a JSON object"}
	}
	doc := json.RawMessage(text[start : end+1])
	if !storage.IsJSONObject(doc) {
		return nil, &MalformedError{What: "analysis is not a JSON object"}
	}
	if err := schema.Validate(doc); err != nil {
		return nil, &MalformedError{What: "analysis does not match the schema", Err: err}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, &MalformedError{What: "analysis is not valid JSON", Err: err}
	}
	return compact.Bytes(), nil
}

// run makes attempts until one is accepted, a failure is not worth
// retrying, or the budget is spent; then it records the metrics and the log.
func run[T any](ctx context.Context, r *Resilient, op, callSID string, budget, attemptBudget time.Duration,
	req ChatRequest, accept func(ChatResponse) (T, error)) (T, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	deadline, _ := ctx.Deadline()

	var zero T
	var in, out int64
	model := r.modelOf(req)
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, attemptBudget)
		resp, err := r.p.Chat(actx, req)
		acancel()
		if err == nil {
			in, out = in+resp.TokensIn, out+resp.TokensOut
			v, aerr := accept(resp)
			if aerr == nil {
				r.record(ctx, model, op, callSID, OutcomeOK, start, attempt, in, out, nil)
				return v, nil
			}
			err = aerr
		}
		if ctx.Err() != nil {
			return zero, r.expired(ctx, model, op, callSID, start, deadline, attempt, in, out, err)
		}
		v := classify(err, attemptBudget)
		if wait, ok := v.pause(attempt, deadline); ok {
			if sleep(ctx, wait) {
				continue
			}
			return zero, r.expired(ctx, model, op, callSID, start, deadline, attempt, in, out, err)
		}
		return zero, r.failed(ctx, model, op, callSID, v.outcome, v.after(attempt), start, attempt, in, out, err)
	}
}

// expired reports a turn whose own deadline passed (or whose caller gave up).
func (r *Resilient) expired(ctx context.Context, model, op, callSID string, start, deadline time.Time, attempts int, in, out int64, cause error) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return r.failed(ctx, model, op, callSID, OutcomeError, "assistant request canceled", start, attempts, in, out, cause)
	}
	budget := deadline.Sub(start).Round(100 * time.Millisecond)
	return r.failed(ctx, model, op, callSID, OutcomeTimeout, fmt.Sprintf("assistant timed out after %s", budget), start, attempts, in, out, cause)
}

// failed records a failure and builds the error returned to the handler.
func (r *Resilient) failed(ctx context.Context, model, op, callSID, outcome, msg string, start time.Time, attempts int, in, out int64, cause error) error {
	r.record(ctx, model, op, callSID, outcome, start, attempts, in, out, cause)
	return &ModelError{Kind: storage.ErrUnavailable, Outcome: outcome, Msg: msg, Err: cause}
}

// record emits the metrics and the one log record of a turn or summary.
func (r *Resilient) record(ctx context.Context, model, op, callSID, outcome string, start time.Time, attempts int, in, out int64, cause error) {
	latency := time.Since(start)
	r.metrics.observe(r.provider, model, op, outcome, latency, attempts, in, out)
	attrs := []slog.Attr{
		slog.String("call_sid", callSID),
		slog.String("op", op),
		slog.String("provider", r.provider),
		slog.String("model", model),
		slog.String("outcome", outcome),
		slog.Int64("latency_ms", latency.Milliseconds()),
		slog.Int("attempts", attempts),
		slog.Int64("tokens_in", in),
		slog.Int64("tokens_out", out),
	}
	level := slog.LevelInfo
	if cause != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", cause.Error()))
	}
	r.log.LogAttrs(context.WithoutCancel(ctx), level, "assistant "+op, attrs...)
}

// backoff is the jittered wait before attempt n+1: between half and all of
// backoffBase·2ⁿ⁻¹, capped at backoffMax, so retries from many calls spread.
func backoff(n int) time.Duration {
	d := backoffBase << min(n-1, 6)
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d unless ctx ends first; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
