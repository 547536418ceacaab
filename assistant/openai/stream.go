package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchboard/assistant"
)

var _ assistant.StreamProvider = (*provider)(nil)
var _ assistant.Streamer = (*Assistant)(nil)

// ChatStream sends one streaming request (server-sent events of
// chat.completion.chunk objects) and hands each content delta to onText as
// it arrives. end_call arrives as a tool call whose arguments stream in
// pieces; they are read once the stream ends. An onText error closes the
// response body, which ends the request at the server.
func (p *provider) ChatStream(ctx context.Context, req assistant.ChatRequest, onText func(string) error) (assistant.StreamResponse, error) {
	params := p.params(req)
	params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
	var res *http.Response
	stream := p.client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&res))
	defer stream.Close()

	var out assistant.StreamResponse
	var text strings.Builder
	type call struct{ name, args strings.Builder }
	calls := map[int64]*call{}
	finished := false
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
			out.TokensIn, out.TokensOut = chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		choice := chunk.Choices[0]
		if choice.FinishReason != "" {
			finished = true
		}
		for _, tc := range choice.Delta.ToolCalls {
			c := calls[tc.Index]
			if c == nil {
				if len(calls) >= 8 {
					continue
				}
				c = &call{}
				calls[tc.Index] = c
			}
			c.name.WriteString(tc.Function.Name)
			if c.args.Len() < 4096 {
				c.args.WriteString(tc.Function.Arguments)
			}
		}
		if d := choice.Delta.Content; d != "" {
			text.WriteString(d)
			if err := onText(d); err != nil {
				out.Text = text.String()
				return out, err
			}
		}
	}
	out.Text = text.String()
	if err := stream.Err(); err != nil {
		return out, translate(err, res)
	}
	if res != nil && res.StatusCode >= 400 {
		return out, translate(errors.New(res.Status), res)
	}
	for _, c := range calls {
		if c.name.String() == assistant.EndCallTool {
			out.EndCall = true
			out.Farewell = assistant.Farewell([]byte(c.args.String()))
		}
	}
	if !finished {
		return out, &assistant.MalformedError{What: "stream ended without a finish reason"}
	}
	if !out.EndCall && strings.TrimSpace(out.Text) == "" {
		return out, &assistant.MalformedError{What: "no text and no end_call"}
	}
	return out, nil
}
