// Package bedrock is the assistant backed by Amazon Bedrock's Converse API,
// authenticated by the default AWS credential chain (the instance role on
// EC2), so no model API key lives on the instances. Deadlines, retries,
// speech shaping, metrics and logs come from assistant.Resilient; this
// package makes single Converse requests and reports failures in the shared
// error types.
package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"switchboard/assistant"
	"switchboard/storage"
)

// Config is the provider's configuration, read from the environment.
// Credentials are not configured here: the default chain finds them.
type Config struct {
	ModelID string `env:"BEDROCK_MODEL_ID"`
	// Region is the Bedrock region; empty uses the SDK's own resolution.
	Region      string  `env:"AWS_REGION"`
	Temperature float64 `env:"BEDROCK_TEMPERATURE" envDefault:"0.3"`
	// MaxTokens bounds a reply, and with it the model's time to produce it.
	MaxTokens int `env:"BEDROCK_MAX_TOKENS" envDefault:"150"`
	// Endpoint overrides the service endpoint (a VPC interface endpoint).
	Endpoint string `env:"BEDROCK_ENDPOINT"`
}

// Validate reports every problem at once, each naming its variable.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.ModelID) == "" {
		errs = append(errs, errors.New("BEDROCK_MODEL_ID must be set"))
	}
	if c.Temperature < 0 || c.Temperature > 1 {
		errs = append(errs, fmt.Errorf("BEDROCK_TEMPERATURE must be between 0 and 1, got %g", c.Temperature))
	}
	if c.MaxTokens < 16 || c.MaxTokens > 4096 {
		errs = append(errs, fmt.Errorf("BEDROCK_MAX_TOKENS must be between 16 and 4096, got %d", c.MaxTokens))
	}
	return errors.Join(errs...)
}

// ConverseAPI is the one Bedrock operation the assistant uses;
// *bedrockruntime.Client implements it.
type ConverseAPI interface {
	Converse(ctx context.Context, in *bedrockruntime.ConverseInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseOutput, error)
}

// Assistant answers callers with a Bedrock model.
type Assistant struct {
	*assistant.Resilient
}

var _ assistant.Assistant = (*Assistant)(nil)

// New loads the default AWS configuration (region, instance-role
// credentials) and builds the assistant. It makes no request to Bedrock.
// Configuration errors wrap storage.ErrInvalid.
func New(ctx context.Context, cfg Config, deps assistant.Deps) (*Assistant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, storage.Wrap(storage.ErrInvalid, err, "invalid Bedrock configuration")
	}
	opts := []func(*config.LoadOptions) error{
		// One kept-alive pool for every turn: a new TLS handshake costs the
		// waiting caller a round trip or two.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 64
			t.IdleConnTimeout = 90 * time.Second
		})),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, storage.Wrap(storage.ErrInvalid, err, "cannot load the AWS configuration")
	}
	if awsCfg.Region == "" {
		return nil, storage.Errorf(storage.ErrInvalid, "AWS_REGION must be set for Bedrock")
	}
	client := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		o.HTTPClient = BufferBodies(awsCfg.HTTPClient)
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return NewWithClient(client, cfg, deps)
}

// NewWithClient builds the assistant on an existing client, for tests and
// for callers that configure the SDK themselves. The client's own retries
// are switched off per request: assistant.Resilient retries within the turn
// deadline.
func NewWithClient(client ConverseAPI, cfg Config, deps assistant.Deps) (*Assistant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, storage.Wrap(storage.ErrInvalid, err, "invalid Bedrock configuration")
	}
	var p assistant.Provider = &provider{cfg: cfg, client: client}
	if sc, ok := client.(ConverseStreamAPI); ok {
		p = &streamProvider{provider: p.(*provider), stream: sc}
	}
	r, err := assistant.NewResilient("bedrock", cfg.ModelID, p, deps)
	if err != nil {
		return nil, err
	}
	return &Assistant{Resilient: r}, nil
}

// provider makes single Converse requests.
type provider struct {
	cfg    Config
	client ConverseAPI
}

// analysisTool is the tool whose input schema is an assistant's analysis
// schema (see input).
const analysisTool = "record_analysis"

// callConnected opens the history when it starts with the greeting:
// Converse requires the first message to be the user's. It is a fixed
// marker, not caller text.
const callConnected = "(The call is connected.)"

// Chat sends one Converse request and translates the answer or the failure.
func (p *provider) Chat(ctx context.Context, req assistant.ChatRequest) (assistant.ChatResponse, error) {
	out, err := p.client.Converse(ctx, p.input(req), func(o *bedrockruntime.Options) {
		o.Retryer = aws.NopRetryer{}
	})
	if err != nil {
		return assistant.ChatResponse{}, translate(err)
	}
	return decode(out)
}

// input builds the request: the system prompt as system content, the
// caller's words as user messages.
func (p *provider) input(req assistant.ChatRequest) *bedrockruntime.ConverseInput {
	maxTokens := p.cfg.MaxTokens
	if req.MaxTokens > 0 {
		maxTokens = req.MaxTokens
	}
	model, temperature := p.cfg.ModelID, p.cfg.Temperature
	if req.Model != "" {
		model = req.Model
	}
	status := takesResultStatus(model)
	var msgs []types.Message
	for i, m := range req.Messages {
		role := types.ConversationRoleAssistant
		if m.Role == storage.RoleCaller {
			role = types.ConversationRoleUser
		}
		if i == 0 && role == types.ConversationRoleAssistant {
			msgs = append(msgs, textMessage(types.ConversationRoleUser, callConnected))
		}
		msgs = append(msgs, types.Message{Role: role, Content: content(m, status)})
	}
	if req.Temperature != nil {
		// Assistants allow OpenAI's 0–2; Bedrock's models take 0–1.
		temperature = min(*req.Temperature, 1)
	}
	in := &bedrockruntime.ConverseInput{
		ModelId:  aws.String(model),
		System:   []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: req.System}},
		Messages: msgs,
		InferenceConfig: &types.InferenceConfiguration{
			MaxTokens:   aws.Int32(int32(maxTokens)),
			Temperature: aws.Float32(float32(temperature)),
		},
	}
	if req.Schema != nil {
		// Converse has no response format: the schema is the input schema
		// of a tool the model must call, whose input is the analysis.
		in.ToolConfig = &types.ToolConfiguration{
			Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
				Name:        aws.String(analysisTool),
				Description: aws.String("Record the analysis of the call."),
				InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(req.Schema.Map())},
			}}},
			ToolChoice: &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(analysisTool)}},
		}
	}
	if req.EndCall {
		tools := []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
			Name:        aws.String(assistant.EndCallTool),
			Description: aws.String(assistant.EndCallDescription),
			InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(assistant.EndCallParameters())},
		}}}
		for _, t := range req.Tools {
			var schema map[string]any
			if json.Unmarshal(t.Parameters, &schema) != nil {
				continue
			}
			tools = append(tools, &types.ToolMemberToolSpec{Value: types.ToolSpecification{
				Name:        aws.String(t.Name),
				Description: aws.String(t.Description),
				InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
			}})
		}
		in.ToolConfig = &types.ToolConfiguration{Tools: tools}
	}
	return in
}

// content is a message's blocks: the results of the tools the previous
// (assistant) message called, its text, then the tools it calls, as
// Converse pairs them by toolUseId (Amazon Bedrock user guide, "Call a
// tool with the Converse API":
// https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html).
func content(m assistant.Message, withStatus bool) []types.ContentBlock {
	var blocks []types.ContentBlock
	for _, r := range m.Results {
		result := types.ToolResultBlock{
			ToolUseId: aws.String(toolUseID(r.ID)),
			Content:   []types.ToolResultContentBlock{resultContent(r.Content)},
		}
		switch {
		case !withStatus:
			// The {"error": …} content says it.
		case r.IsError:
			result.Status = types.ToolResultStatusError
		default:
			result.Status = types.ToolResultStatusSuccess
		}
		blocks = append(blocks, &types.ContentBlockMemberToolResult{Value: result})
	}
	if m.Text != "" || len(blocks) == 0 && len(m.Calls) == 0 {
		blocks = append(blocks, &types.ContentBlockMemberText{Value: m.Text})
	}
	for _, c := range m.Calls {
		var input any = map[string]any{}
		var args map[string]any
		if json.Unmarshal([]byte(c.Arguments), &args) == nil && args != nil {
			input = args
		}
		blocks = append(blocks, &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
			ToolUseId: aws.String(toolUseID(c.ID)),
			// A name the model made up may not be one Converse accepts in
			// the history: refused once, it would fail every later turn.
			Name:  aws.String(toolName(c.Name)),
			Input: document.NewLazyDocument(input),
		}})
	}
	return blocks
}

// takesResultStatus reports whether model accepts a toolResult's status:
// "This field is only supported by Amazon Nova and Anthropic Claude 3 and
// 4 models" (ToolResultBlock, Amazon Bedrock API reference:
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultBlock.html);
// other models refuse the request. A model named by an inference
// profile's ARN, which does not say which model it is, is sent none.
func takesResultStatus(model string) bool {
	m := strings.ToLower(model)
	return strings.Contains(m, "anthropic.claude") || strings.Contains(m, "amazon.nova")
}

// resultContent is a tool's answer as a JSON block when it is a JSON
// object, as text otherwise (a JSON block holds an object).
func resultContent(content string) types.ToolResultContentBlock {
	var obj map[string]any
	if json.Unmarshal([]byte(content), &obj) == nil && obj != nil {
		return &types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(obj)}
	}
	return &types.ToolResultContentBlockMemberText{Value: content}
}

// toolUseID makes an identifier of another provider's (or none) one
// Converse accepts: 1 to 64 characters of [a-zA-Z0-9_-].
func toolUseID(id string) string { return converseName(id, "tooluse") }

// toolName makes a tool's name one Converse accepts in a toolUse, which
// it checks as it checks identifiers ([a-zA-Z0-9_-], 1 to 64 characters).
// The assistants' own tools already have such names.
func toolName(name string) string { return converseName(name, "tool") }

// converseName folds the characters Converse refuses to _, keeps 64 at
// most, and gives empty the fallback.
func converseName(id, fallback string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return fallback
	}
	return string(b)
}

func textMessage(role types.ConversationRole, text string) types.Message {
	return types.Message{Role: role, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}
}

// decode reads the assistant message: an end_call tool use wins over text;
// the use of any other tool (a business tool, transfer_call) is returned
// for the caller of Chat to run.
func decode(out *bedrockruntime.ConverseOutput) (assistant.ChatResponse, error) {
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return assistant.ChatResponse{}, &assistant.MalformedError{What: "no output message"}
	}
	var res assistant.ChatResponse
	if u := out.Usage; u != nil {
		res.TokensIn = int64(aws.ToInt32(u.InputTokens))
		res.TokensOut = int64(aws.ToInt32(u.OutputTokens))
	}
	var text []string
	for _, block := range msg.Value.Content {
		switch b := block.(type) {
		case *types.ContentBlockMemberText:
			text = append(text, b.Value)
		case *types.ContentBlockMemberToolUse:
			switch aws.ToString(b.Value.Name) {
			case assistant.EndCallTool:
				res.EndCall = true
				res.Text = farewell(b.Value.Input)
			case "":
				// A tool use without a name calls nothing.
			case analysisTool:
				// The analysis is the tool's input, as JSON.
				if b.Value.Input != nil {
					if doc, err := b.Value.Input.MarshalSmithyDocument(); err == nil {
						return assistant.ChatResponse{Text: string(doc), TokensIn: res.TokensIn, TokensOut: res.TokensOut}, nil
					}
				}
				return assistant.ChatResponse{}, &assistant.MalformedError{What: "analysis tool input is unreadable"}
			default:
				if len(res.Tools) < storage.MaxToolCalls {
					res.Tools = append(res.Tools, assistant.ToolUse{ID: aws.ToString(b.Value.ToolUseId),
						Name: aws.ToString(b.Value.Name), Arguments: toolInput(b.Value.Input)})
				}
			}
		}
	}
	if res.EndCall {
		if res.Text == "" {
			res.Text = strings.Join(text, " ")
		}
		return res, nil
	}
	res.Text = strings.Join(text, " ")
	if len(res.Tools) > 0 {
		return res, nil
	}
	if strings.TrimSpace(res.Text) == "" {
		return assistant.ChatResponse{}, &assistant.MalformedError{What: "no text and no end_call"}
	}
	return res, nil
}

// toolInput is a tool use's input as the JSON the tool is given; an
// unreadable one is "" (validation against the tool's schema refuses it).
func toolInput(input document.Interface) string {
	if input == nil {
		return "{}"
	}
	b, err := input.MarshalSmithyDocument()
	if err != nil {
		return ""
	}
	return string(b)
}

// farewell reads end_call's optional argument; anything unreadable gives ""
// so the configured goodbye is said.
func farewell(input document.Interface) string {
	if input == nil {
		return ""
	}
	var args map[string]any
	if input.UnmarshalSmithyDocument(&args) != nil {
		return ""
	}
	s, _ := args["farewell"].(string)
	return strings.TrimSpace(s)
}

// translate turns an SDK failure into the shared error types: an HTTP error
// status (ThrottlingException 429, ModelTimeoutException 408,
// InternalServerException 500, ServiceUnavailableException 503, …) becomes
// *assistant.StatusError, an unreadable answer *assistant.MalformedError;
// transport and context errors pass unchanged.
func translate(err error) error {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 {
		return &assistant.StatusError{
			Status:     re.Response.StatusCode,
			RetryAfter: assistant.RetryAfter(re.Response.Header, time.Now()),
			Err:        err,
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return &assistant.MalformedError{What: "unreadable response body", Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return err
	}
	if re != nil {
		return &assistant.MalformedError{What: "unexpected response", Err: err}
	}
	return err
}
