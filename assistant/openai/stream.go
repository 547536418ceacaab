package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchboard/assistant"
	"switchboard/storage"
)

var _ assistant.StreamProvider = (*provider)(nil)
var _ assistant.Streamer = (*Assistant)(nil)

// ChatStream sends one streaming request (server-sent events of
// chat.completion.chunk objects) and hands each content delta to onText as
// it arrives. Tool calls (end_call and the business tools) arrive as
// delta.tool_calls pieces keyed by index: the first piece of a call
// carries its id and function name, the next ones pieces of its JSON
// arguments, and the last chunk has finish_reason "tool_calls" (the API
// reference's chat completion chunk object; openai-go's
// ChatCompletionChunkChoiceDeltaToolCall). They are joined as they arrive
// and read once the stream ends. An onText error closes the response
// body, which ends the request at the server.
func (p *provider) ChatStream(ctx context.Context, req assistant.ChatRequest, onText func(string) error) (assistant.StreamResponse, error) {
	params := p.params(req)
	params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
	var res *http.Response
	stream := p.client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&res))
	defer stream.Close()

	var out assistant.StreamResponse
	var text strings.Builder
	type call struct{ id, name, args strings.Builder }
	calls := map[int64]*call{}
	var order []int64
	finished, started := false, false
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
				if len(calls) >= maxStreamCalls {
					continue
				}
				c = &call{}
				calls[tc.Index] = c
				order = append(order, tc.Index)
			}
			// As openai-go's ChatCompletionAccumulator does: a piece that
			// carries an id sets it (servers that repeat it on every piece
			// do not make it longer); name and arguments are appended.
			if tc.ID != "" && len(tc.ID) <= 256 {
				c.id.Reset()
				c.id.WriteString(tc.ID)
			}
			if c.name.Len() < 256 {
				c.name.WriteString(tc.Function.Name)
			}
			// One byte over the bound is kept, so that the call is
			// refused as too long rather than run with cut arguments.
			if c.args.Len() <= storage.MaxToolJSON {
				c.args.WriteString(tc.Function.Arguments)
			}
			if !started {
				started = true
				if err := onText(""); err != nil {
					return out, err
				}
			}
		}
		if d := choice.Delta.Content; d != "" {
			started = true
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
	for _, i := range order {
		c := calls[i]
		switch name := c.name.String(); name {
		case assistant.EndCallTool:
			out.EndCall = true
			out.Farewell = assistant.Farewell([]byte(c.args.String()))
		case "":
		default:
			out.Tools = append(out.Tools, assistant.ToolUse{ID: c.id.String(), Name: name, Arguments: c.args.String()})
		}
	}
	if !finished {
		return out, &assistant.MalformedError{What: "stream ended without a finish reason"}
	}
	if !out.EndCall && len(out.Tools) == 0 && strings.TrimSpace(out.Text) == "" {
		return out, &assistant.MalformedError{What: "no text, no tool call and no end_call"}
	}
	return out, nil
}

// maxStreamCalls bounds the tool calls read from one answer, as decode
// does for a whole one.
const maxStreamCalls = 8
