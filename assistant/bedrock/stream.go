package bedrock

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"switchboard/assistant"
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
// onText as its contentBlockDelta event arrives. end_call arrives as a
// toolUse content block whose JSON input streams in pieces; it is read
// once the block is complete. An onText error closes the event stream,
// which ends the request.
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
	tools := map[int32]string{} // content block index → tool name
	var endCallInput strings.Builder
	stopped := false
	for ev := range stream.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if tu, ok := e.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
				tools[aws.ToInt32(e.Value.ContentBlockIndex)] = aws.ToString(tu.Value.Name)
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := e.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				if d.Value == "" {
					continue
				}
				text.WriteString(d.Value)
				if err := onText(d.Value); err != nil {
					res.Text = text.String()
					return res, err
				}
			case *types.ContentBlockDeltaMemberToolUse:
				if tools[aws.ToInt32(e.Value.ContentBlockIndex)] == assistant.EndCallTool && endCallInput.Len() < 4096 {
					endCallInput.WriteString(aws.ToString(d.Value.Input))
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
	for _, name := range tools {
		if name == assistant.EndCallTool {
			res.EndCall = true
			res.Farewell = assistant.Farewell([]byte(endCallInput.String()))
		}
	}
	if !stopped {
		return res, &assistant.MalformedError{What: "stream ended without messageStop"}
	}
	if !res.EndCall && strings.TrimSpace(res.Text) == "" {
		return res, &assistant.MalformedError{What: "no text and no end_call"}
	}
	return res, nil
}
