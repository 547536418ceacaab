package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchboard/runtime/outbound"
)

// HTTPTools runs business tools over the outbound client: a JSON POST
// signed per Standard Webhooks with the tool's secret, whose answer must
// be JSON (bounded by the client's response limit).
type HTTPTools struct {
	Client *outbound.Client
}

var _ ToolRunner = HTTPTools{}

// toolRequest is the body a tool receives.
type toolRequest struct {
	Tool      string          `json:"tool"`
	Call      toolRequestCall `json:"call"`
	Arguments json.RawMessage `json:"arguments"`
}

type toolRequestCall struct {
	SID  string `json:"sid"`
	From string `json:"from"`
	To   string `json:"to"`
}

// RunTool POSTs {"tool", "call": {"sid", "from", "to"}, "arguments"} and
// returns the JSON answer. Errors say what the model may tell the caller:
// a timeout, an error status, an answer that is not JSON, a refused URL.
func (h HTTPTools) RunTool(ctx context.Context, inv ToolInvocation) (json.RawMessage, error) {
	body, err := json.Marshal(toolRequest{Tool: inv.Tool.Name, Call: toolRequestCall{SID: inv.CallSID, From: inv.From, To: inv.To}, Arguments: inv.Arguments})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := h.Client.Post(ctx, outbound.Request{URL: inv.Tool.URL, Body: body, Secret: inv.Tool.Secret})
	var status *outbound.StatusError
	var refused *outbound.RefusedError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("the tool did not answer within %s", time.Since(start).Round(100*time.Millisecond))
	case errors.As(err, &status):
		return nil, fmt.Errorf("the tool answered HTTP %d", status.Status)
	case errors.As(err, &refused):
		return nil, fmt.Errorf("the tool's address is refused (%s)", refused.Reason)
	case errors.Is(err, outbound.ErrResponseTooLarge):
		return nil, errors.New("the tool's answer is too large")
	case err != nil:
		return nil, errors.New("the tool could not be reached")
	}
	if !json.Valid(resp.Body) {
		return nil, errors.New("the tool's answer is not JSON")
	}
	return json.RawMessage(resp.Body), nil
}
