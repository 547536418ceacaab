// Package openai is the assistant backed by any OpenAI-compatible chat
// completions API: OpenAI itself, Azure OpenAI and self-hosted servers (vLLM,
// Ollama, llama.cpp) selected by the base URL. Deadlines, retries, speech
// shaping, metrics and logs come from assistant.Resilient; this package makes
// single requests with the official SDK and reports failures in the shared
// error types.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"switchboard/assistant"
	"switchboard/storage"
)

// Config is the provider's configuration, read from the environment.
type Config struct {
	// BaseURL selects the server: OpenAI, an Azure OpenAI resource's
	// …/openai/v1 URL, or a self-hosted server's /v1.
	BaseURL string `env:"OPENAI_BASE_URL" envDefault:"https://api.openai.com/v1"`
	// APIKey is sent as a bearer token; self-hosted servers may need none.
	APIKey      string  `env:"OPENAI_API_KEY"`
	Model       string  `env:"OPENAI_MODEL"`
	Temperature float64 `env:"OPENAI_TEMPERATURE" envDefault:"0.3"`
	// MaxTokens bounds a reply, and with it the model's time to produce it.
	MaxTokens int `env:"OPENAI_MAX_TOKENS" envDefault:"150"`
	// StructuredOutput asks for summaries and analyses with response_format
	// json_schema;
	// turn it off for servers that reject it (the JSON is parsed either way).
	StructuredOutput bool `env:"OPENAI_STRUCTURED_OUTPUT" envDefault:"true"`
}

// Validate reports every problem at once, each naming its variable.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("OPENAI_BASE_URL must be an http or https URL"))
	}
	if strings.TrimSpace(c.Model) == "" {
		errs = append(errs, errors.New("OPENAI_MODEL must be set"))
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		errs = append(errs, fmt.Errorf("OPENAI_TEMPERATURE must be between 0 and 2, got %g", c.Temperature))
	}
	if c.MaxTokens < 16 || c.MaxTokens > 4096 {
		errs = append(errs, fmt.Errorf("OPENAI_MAX_TOKENS must be between 16 and 4096, got %d", c.MaxTokens))
	}
	return errors.Join(errs...)
}

// Assistant answers callers with an OpenAI-compatible model.
type Assistant struct {
	*assistant.Resilient
	client *http.Client
}

var _ assistant.Assistant = (*Assistant)(nil)

// New validates cfg and builds the assistant. It makes no request: a server
// that is down at start-up only fails turns, which the caller hears as an
// apology. Configuration errors wrap storage.ErrInvalid.
func New(cfg Config, deps assistant.Deps) (*Assistant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, storage.Wrap(storage.ErrInvalid, err, "invalid OpenAI configuration")
	}
	hc := newHTTPClient()
	p := &provider{
		cfg: cfg,
		client: sdk.NewClient(
			option.WithBaseURL(cfg.BaseURL),
			option.WithAPIKey(cfg.APIKey),
			option.WithHTTPClient(hc),
			// assistant.Resilient retries within the turn deadline; SDK
			// retries would ignore it.
			option.WithMaxRetries(0),
		),
	}
	r, err := assistant.NewResilient("openai", cfg.Model, p, deps)
	if err != nil {
		return nil, err
	}
	return &Assistant{Resilient: r, client: hc}, nil
}

// Close drops the idle provider connections.
func (a *Assistant) Close() error {
	a.client.CloseIdleConnections()
	return nil
}

// newHTTPClient returns the one client used for every turn. Keep-alive
// connections matter: a fresh TLS handshake to the provider costs a round
// trip or two on every turn the caller waits for. Deadlines come from each
// request's context, so the client itself has no timeout.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   3 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// provider makes single chat-completion requests.
type provider struct {
	cfg    Config
	client sdk.Client
}

// Chat sends one request and translates the answer or the failure.
func (p *provider) Chat(ctx context.Context, req assistant.ChatRequest) (assistant.ChatResponse, error) {
	params := p.params(req)
	var res *http.Response
	cc, err := p.client.Chat.Completions.New(ctx, params, option.WithResponseInto(&res))
	if err != nil {
		return assistant.ChatResponse{}, translate(err, res)
	}
	return decode(cc)
}

// params builds the request: the system prompt first, then the history with
// the caller as "user".
func (p *provider) params(req assistant.ChatRequest) sdk.ChatCompletionNewParams {
	msgs := make([]sdk.ChatCompletionMessageParamUnion, 0, len(req.Messages)+1)
	msgs = append(msgs, sdk.SystemMessage(req.System))
	for _, m := range req.Messages {
		switch {
		case len(m.Results) > 0:
			// Tool results answer the assistant message before them.
			for _, r := range m.Results {
				msgs = append(msgs, sdk.ToolMessage(r.Content, r.ID))
			}
			if m.Text != "" {
				// The caller spoke after the results (an answer that
				// said nothing in between).
				msgs = append(msgs, sdk.UserMessage(m.Text))
			}
		case len(m.Calls) > 0:
			am := sdk.ChatCompletionAssistantMessageParam{}
			if m.Text != "" {
				am.Content.OfString = sdk.String(m.Text)
			}
			for _, c := range m.Calls {
				am.ToolCalls = append(am.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
					ID: c.ID, Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: c.Name, Arguments: c.Arguments}}})
			}
			msgs = append(msgs, sdk.ChatCompletionMessageParamUnion{OfAssistant: &am})
		case m.Role == storage.RoleCaller:
			msgs = append(msgs, sdk.UserMessage(m.Text))
		default:
			msgs = append(msgs, sdk.AssistantMessage(m.Text))
		}
	}
	maxTokens := p.cfg.MaxTokens
	if req.MaxTokens > 0 {
		maxTokens = req.MaxTokens
	}
	model, temperature := p.cfg.Model, p.cfg.Temperature
	if req.Model != "" {
		model = req.Model
	}
	if req.Temperature != nil {
		temperature = *req.Temperature
	}
	params := sdk.ChatCompletionNewParams{
		Model:       model,
		Messages:    msgs,
		Temperature: sdk.Float(temperature),
		// max_tokens rather than max_completion_tokens: every compatible
		// server understands it.
		MaxTokens: sdk.Int(int64(maxTokens)),
	}
	if req.EndCall {
		params.Tools = []sdk.ChatCompletionToolUnionParam{sdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        assistant.EndCallTool,
			Description: sdk.String(assistant.EndCallDescription),
			Parameters:  shared.FunctionParameters(assistant.EndCallParameters()),
		})}
		for _, t := range req.Tools {
			var schema map[string]any
			if json.Unmarshal(t.Parameters, &schema) != nil {
				continue
			}
			params.Tools = append(params.Tools, sdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name:        t.Name,
				Description: sdk.String(t.Description),
				Parameters:  shared.FunctionParameters(schema),
			}))
		}
	}
	if req.JSON && p.cfg.StructuredOutput {
		format := shared.ResponseFormatJSONSchemaJSONSchemaParam{
			Name:   "call_summary",
			Strict: sdk.Bool(true),
			Schema: assistant.SummarySchema(),
		}
		if req.Schema != nil {
			// The assistant's own schema, as its author wrote it (key
			// order included). Strict mode only takes schemas that list
			// every property as required and forbid others; any other is
			// sent as guidance, and the answer is validated either way.
			format = shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name:   "call_analysis",
				Strict: sdk.Bool(req.Schema.Strict()),
				Schema: req.Schema.Raw(),
			}
		}
		params.ResponseFormat = sdk.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: format},
		}
	}
	return params
}

// decode reads the first choice: an end_call tool call wins over text.
func decode(cc *sdk.ChatCompletion) (assistant.ChatResponse, error) {
	if cc == nil || len(cc.Choices) == 0 {
		return assistant.ChatResponse{}, &assistant.MalformedError{What: "no choices"}
	}
	out := assistant.ChatResponse{
		TokensIn:  cc.Usage.PromptTokens,
		TokensOut: cc.Usage.CompletionTokens,
	}
	msg := cc.Choices[0].Message
	for _, tc := range msg.ToolCalls {
		if tc.Function.Name == assistant.EndCallTool {
			out.EndCall = true
			out.Text = assistant.Farewell([]byte(tc.Function.Arguments))
			if out.Text == "" {
				out.Text = msg.Content
			}
			return out, nil
		}
		if tc.Function.Name != "" && len(out.Tools) < 8 {
			out.Tools = append(out.Tools, assistant.ToolUse{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
	}
	out.Text = msg.Content
	if len(out.Tools) > 0 {
		return out, nil
	}
	if out.Text == "" {
		out.Text = msg.Refusal
	}
	if strings.TrimSpace(out.Text) == "" {
		return assistant.ChatResponse{}, &assistant.MalformedError{What: "no text and no end_call"}
	}
	return out, nil
}

// translate turns an SDK failure into the shared error types: an HTTP error
// status becomes *assistant.StatusError (whatever its body, which servers
// other than OpenAI shape differently), an unreadable success a
// *assistant.MalformedError; transport and context errors pass unchanged.
func translate(err error, res *http.Response) error {
	if res == nil {
		return err
	}
	if res.StatusCode >= 400 {
		return &assistant.StatusError{
			Status:     res.StatusCode,
			RetryAfter: assistant.RetryAfter(res.Header, time.Now()),
			Err:        err,
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	// After a success status, anything but a transport error is a body the
	// SDK could not read as a completion (a body cut short reads the same).
	var ne net.Error
	if errors.As(err, &ne) {
		return err
	}
	return &assistant.MalformedError{What: "unreadable response body", Err: err}
}
