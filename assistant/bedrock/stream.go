package bedrock

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"switchboard/assistant"
	"switchboard/storage"
)

// ConverseStreamAPI is the streaming Bedrock operation; *bedrockruntime.Client
// implements it. A client given to NewWithClient that also implements it
// streams replies; one that does not answers streamed calls in one piece.
type ConverseStreamAPI interface {
	ConverseStream(ctx context.Context, in *bedrockruntime.ConverseStreamInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseStreamOutput, error)
}

// streamProvider is a provider whose client can stream.
type streamProvider struct {
	*provider
	stream ConverseStreamAPI
}

var _ assistant.StreamProvider = (*streamProvider)(nil)
var _ assistant.Streamer = (*Assistant)(nil)

// ChatStream sends one ConverseStream request and hands each text delta to
// onText as its contentBlockDelta event arrives. A tool call (end_call or a
// business tool) is a toolUse content block: contentBlockStart carries its
// start.toolUse {toolUseId, name}, contentBlockDelta events pieces of its
// JSON input as delta.toolUse.input, contentBlockStop ends it, and
// messageStop has stopReason "tool_use" (the ConverseStream API
// reference's response syntax; the ConverseStream tool use example of the
// Bedrock user guide, docs.aws.amazon.com/bedrock/latest/userguide/tool-use-examples.html).
// Inputs are joined as they arrive and read once the stream ends. An
// onText error closes the event stream, which ends the request.
func (p *streamProvider) ChatStream(ctx context.Context, req assistant.ChatRequest, onText func(string) error) (assistant.StreamResponse, error) {
	in := p.input(req)
	out, err := p.stream.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:         in.ModelId,
		System:          in.System,
		Messages:        in.Messages,
		InferenceConfig: in.InferenceConfig,
		ToolConfig:      in.ToolConfig,
	}, func(o *bedrockruntime.Options) { o.Retryer = aws.NopRetryer{} })
	if err != nil {
		return assistant.StreamResponse{}, translate(err)
	}
	stream := out.GetStream()
	defer stream.Close()

	var res assistant.StreamResponse
	var text strings.Builder
	type use struct {
		id, name string
		input    strings.Builder
	}
	tools := map[int32]*use{} // content block index → tool call
	var order []int32
	stopped, started := false, false
	for ev := range stream.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			tu, ok := e.Value.Start.(*types.ContentBlockStartMemberToolUse)
			if !ok {
				continue
			}
			i := aws.ToInt32(e.Value.ContentBlockIndex)
			if _, seen := tools[i]; seen || len(tools) >= maxStreamCalls {
				continue
			}
			tools[i] = &use{id: truncate(aws.ToString(tu.Value.ToolUseId), 256), name: truncate(aws.ToString(tu.Value.Name), 256)}
			order = append(order, i)
			if !started {
				started = true
				if err := onText(""); err != nil {
					return res, err
				}
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := e.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				if d.Value == "" {
					continue
				}
				started = true
				text.WriteString(d.Value)
				if err := onText(d.Value); err != nil {
					res.Text = text.String()
					return res, err
				}
			case *types.ContentBlockDeltaMemberToolUse:
				// One byte over the bound is kept, so that the call is
				// refused as too long rather than run with cut input.
				if u := tools[aws.ToInt32(e.Value.ContentBlockIndex)]; u != nil && u.input.Len() <= storage.MaxToolJSON {
					u.input.WriteString(aws.ToString(d.Value.Input))
				}
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			stopped = true
		case *types.ConverseStreamOutputMemberMetadata:
			if u := e.Value.Usage; u != nil {
				res.TokensIn = int64(aws.ToInt32(u.InputTokens))
				res.TokensOut = int64(aws.ToInt32(u.OutputTokens))
			}
		}
	}
	res.Text = text.String()
	if err := stream.Err(); err != nil {
		return res, translate(err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	for _, i := range order {
		u := tools[i]
		switch u.name {
		case assistant.EndCallTool:
			res.EndCall = true
			res.Farewell = assistant.Farewell([]byte(u.input.String()))
		case "":
		default:
			res.Tools = append(res.Tools, assistant.ToolUse{ID: u.id, Name: u.name, Arguments: u.input.String()})
		}
	}
	if !stopped {
		return res, &assistant.MalformedError{What: "stream ended without messageStop"}
	}
	if !res.EndCall && len(res.Tools) == 0 && strings.TrimSpace(res.Text) == "" {
		return res, &assistant.MalformedError{What: "no text, no tool call and no end_call"}
	}
	return res, nil
}

// maxStreamCalls bounds the tool calls read from one answer, as decode
// does for a whole one.
const maxStreamCalls = 8

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
