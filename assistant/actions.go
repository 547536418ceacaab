package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/storage"
)

// What the assistant can do besides talk: transfer the caller to a person
// (transfer_call, over the assistant's transfer targets) and call the
// business's HTTP tools. The model sees the targets' names and
// descriptions, never their numbers.

// TransferTool is the tool the model calls to transfer the caller.
const TransferTool = "transfer_call"

// maxToolRounds bounds the model requests of one turn that end in tool
// calls: a model that keeps calling tools is answered without them.
const maxToolRounds = 3

// ToolSpec is a tool offered to the model.
type ToolSpec struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments.
	Parameters json.RawMessage
}

// ToolUse is a tool call the model made.
type ToolUse struct {
	ID        string
	Name      string
	Arguments string // JSON, as the model wrote it
}

// ToolResult answers one ToolUse, for the model's next request.
type ToolResult struct {
	ID   string
	Name string
	// Content is JSON: the tool's result, or {"error": …}.
	Content string
	IsError bool
}

// TransferRequest is a transfer the model asked for.
type TransferRequest struct {
	Target storage.TransferTarget
	// Summary is for the person who answers a warm transfer.
	Summary string
}

// ToolRunner performs a business tool's HTTP request.
type ToolRunner interface {
	// RunTool POSTs inv's arguments to inv.Tool's URL, signed, and returns
	// its JSON answer. ctx bounds it.
	RunTool(ctx context.Context, inv ToolInvocation) (json.RawMessage, error)
}

// ToolInvocation is one call of a business tool.
type ToolInvocation struct {
	CallSID   string
	From, To  string
	CallID    string
	Tool      storage.Tool
	Arguments json.RawMessage
}

// transferSpec offers transfer_call with the assistant's targets, by name
// and description.
func transferSpec(targets []storage.TransferTarget) ToolSpec {
	names := make([]string, len(targets))
	var desc strings.Builder
	desc.WriteString("Transfer the caller to a person. Use it when the caller asks for a person or needs help you cannot give. Say a short sentence telling the caller you are transferring them. Targets:")
	for i, t := range targets {
		names[i] = t.Name
		fmt.Fprintf(&desc, "\n- %s: %s", t.Name, t.Description)
	}
	params, _ := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"target": map[string]any{"type": "string", "enum": names, "description": "Who to transfer the caller to."},
			"summary": map[string]any{"type": "string",
				"description": "Two or three sentences for the person who answers: who is calling, what they want, and what was already said."},
		},
		"required":             []string{"target", "summary"},
		"additionalProperties": false,
	})
	return ToolSpec{Name: TransferTool, Description: desc.String(), Parameters: params}
}

// ToolSpecs are the tools an assistant version offers the model besides
// end_call: its business tools, and transfer_call when it has targets.
func ToolSpecs(a *storage.Assistant) []ToolSpec {
	if a == nil {
		return nil
	}
	var specs []ToolSpec
	for _, t := range a.Tools {
		specs = append(specs, ToolSpec{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	if len(a.TransferTargets) > 0 {
		specs = append(specs, transferSpec(a.TransferTargets))
	}
	return specs
}

// HasActions reports whether an assistant version can call tools or
// transfer.
func HasActions(a *storage.Assistant) bool {
	return a != nil && (len(a.Tools) > 0 || len(a.TransferTargets) > 0)
}

// findTransfer reads a transfer_call: the target named (case-insensitive)
// and the summary, or a fallback summary from the conversation.
func findTransfer(c Conversation, args string) (*TransferRequest, error) {
	var a struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	}
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		return nil, errors.New("the arguments are not a JSON object with target and summary")
	}
	if c.Assistant == nil {
		return nil, errors.New("no transfer targets")
	}
	for _, t := range c.Assistant.TransferTargets {
		if strings.EqualFold(strings.TrimSpace(t.Name), strings.TrimSpace(a.Target)) {
			summary := strings.TrimSpace(a.Summary)
			if summary == "" {
				summary = FallbackSummary(c)
			}
			return &TransferRequest{Target: t, Summary: truncateBytes(summary, 1000)}, nil
		}
	}
	return nil, fmt.Errorf("no transfer target is named %q", truncateBytes(a.Target, 64))
}

// FallbackSummary describes the call for a warm transfer when the model
// wrote no summary: the caller's last words.
func FallbackSummary(c Conversation) string {
	last, _ := lastCaller(c.Turns)
	if last == "" {
		return "A caller is being transferred to you by the assistant."
	}
	return "A caller is being transferred to you by the assistant. They said: " + truncateBytes(last, 600)
}

// runTools performs the model's business tool calls in order, within ctx:
// arguments are validated against the tool's schema before any request,
// and every call is recorded with its result or error and duration.
//
// around, when set, is called as each request starts and the function it
// returns as it ends: streamed calls say a filler when a tool is slow.
func runTools(ctx context.Context, runner ToolRunner, c Conversation, uses []ToolUse, around func() func()) ([]storage.ToolCall, []ToolResult) {
	var calls []storage.ToolCall
	var results []ToolResult
	for i, u := range uses {
		if i >= storage.MaxToolCalls {
			results = append(results, ToolResult{ID: u.ID, Name: u.Name, Content: errorJSON("too many tool calls in one turn"), IsError: true})
			continue
		}
		start := time.Now()
		args := json.RawMessage(strings.TrimSpace(u.Arguments))
		if len(args) == 0 {
			args = json.RawMessage(`{}`)
		}
		call := storage.ToolCall{ID: truncateBytes(u.ID, 200), Name: truncateBytes(u.Name, storage.MaxToolName)}
		if json.Valid(args) && len(args) <= storage.MaxToolJSON {
			call.Arguments = args
		} else {
			call.Arguments, _ = json.Marshal(truncateBytes(string(args), 1000))
		}
		result, err := runTool(ctx, runner, c, u, args, around)
		call.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			call.Error = truncateBytes(err.Error(), 300)
			results = append(results, ToolResult{ID: u.ID, Name: u.Name, Content: errorJSON(call.Error), IsError: true})
		} else {
			call.Result = result
			results = append(results, ToolResult{ID: u.ID, Name: u.Name, Content: string(result)})
		}
		calls = append(calls, call)
	}
	return calls, results
}

func runTool(ctx context.Context, runner ToolRunner, c Conversation, u ToolUse, args json.RawMessage, around func() func()) (json.RawMessage, error) {
	var tool *storage.Tool
	if c.Assistant != nil {
		for i := range c.Assistant.Tools {
			if c.Assistant.Tools[i].Name == u.Name {
				tool = &c.Assistant.Tools[i]
			}
		}
	}
	if tool == nil {
		return nil, fmt.Errorf("there is no tool named %q", truncateBytes(u.Name, 64))
	}
	schema, err := CompileSchema(tool.Parameters)
	if err != nil {
		return nil, errors.New("the tool's parameter schema is invalid")
	}
	if err := schema.Validate(args); err != nil {
		return nil, fmt.Errorf("invalid arguments: %v", err)
	}
	if runner == nil {
		return nil, errors.New("tools cannot be called here")
	}
	if around != nil {
		defer around()()
	}
	tctx, cancel := context.WithTimeout(ctx, tool.ToolTimeout())
	defer cancel()
	return runner.RunTool(tctx, ToolInvocation{CallSID: c.CallSID, From: c.From, To: c.To, CallID: u.ID, Tool: *tool, Arguments: args})
}

func errorJSON(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// roundTools settles one model answer's tool calls as every turn does: the
// first valid transfer_call ends the turn (returned, nothing run); the
// business tools run, at most as many as storage.MaxToolCalls leaves to a
// turn that stored stored calls, within the time left to deadline but
// what the model needs to answer, around bracketing each request; every
// call that did not run is answered with an error. made are the calls to
// store, results the answers for the model's next request.
func (r *Resilient) roundTools(ctx context.Context, c Conversation, deadline time.Time, uses []ToolUse, stored int, around func() func()) (tr *TransferRequest, made []storage.ToolCall, results []ToolResult) {
	var business []ToolUse
	for _, u := range uses {
		if u.Name != TransferTool {
			business = append(business, u)
			continue
		}
		tr, err := findTransfer(c, u.Arguments)
		if err == nil {
			return tr, nil, nil
		}
		results = append(results, ToolResult{ID: u.ID, Name: u.Name, Content: errorJSON(err.Error()), IsError: true})
	}
	if room := max(storage.MaxToolCalls-stored, 0); len(business) > room {
		for _, u := range business[room:] {
			results = append(results, ToolResult{ID: u.ID, Name: u.Name, Content: errorJSON("too many tool calls in one turn"), IsError: true})
		}
		business = business[:room]
	}
	reserve := min(r.cfg.AttemptTimeout, time.Until(deadline)/2)
	tctx, cancel := context.WithDeadline(ctx, deadline.Add(-reserve))
	defer cancel()
	made, res := runTools(tctx, r.tools, c, business, around)
	return nil, made, append(results, res...)
}

// holdFor is what the caller hears when a transfer's turn said nothing.
func holdFor(tr *TransferRequest) string {
	return "Please hold while I transfer you to " + tr.Target.Name + "."
}

// replyWithTools answers the caller's last turn with the assistant's tools
// on offer, all within the turn deadline: each model answer that calls
// business tools has them run (each within its own timeout, cut short so
// the model keeps time to answer) and is asked again with their results,
// at most maxToolRounds times; a transfer_call ends the turn at once with
// the transfer, and its summary prepared now, while the caller waits.
// Streamed calls answer with streamWithTools, which runs tools the same
// way.
func (r *Resilient) replyWithTools(ctx context.Context, c Conversation, cs callSettings, req ChatRequest) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.TurnTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var calls []storage.ToolCall
	for round := 0; ; round++ {
		if round == maxToolRounds {
			req.Tools = nil
		}
		resp, err := run(ctx, r, "reply", c.CallSID, time.Until(deadline), r.cfg.AttemptTimeout, req,
			func(resp ChatResponse) (ChatResponse, error) {
				if !resp.EndCall && len(resp.Tools) == 0 && Speakable(resp.Text, cs.maxReplyChars) == "" {
					return resp, &MalformedError{What: "reply has no speakable text"}
				}
				return resp, nil
			})
		if err != nil {
			return Reply{ToolCalls: calls}, err
		}
		text := Speakable(resp.Text, cs.maxReplyChars)
		if resp.EndCall {
			if text == "" {
				text = cs.goodbye
			}
			return Reply{Text: text, EndCall: true, ToolCalls: calls}, nil
		}
		if len(resp.Tools) == 0 {
			return Reply{Text: text, ToolCalls: calls}, nil
		}
		if round >= maxToolRounds {
			// Tools were no longer offered: a server that calls them anyway
			// gets its words said, or the turn fails, rather than more
			// rounds until the deadline.
			if text != "" {
				return Reply{Text: text, ToolCalls: calls}, nil
			}
			return Reply{ToolCalls: calls}, &ModelError{Kind: storage.ErrUnavailable, Outcome: OutcomeMalformed,
				Msg: "the model kept calling tools"}
		}
		tr, made, results := r.roundTools(ctx, c, deadline, resp.Tools, len(calls), nil)
		if tr != nil {
			if text == "" {
				text = holdFor(tr)
			}
			return Reply{Text: text, ToolCalls: calls, Transfer: tr}, nil
		}
		calls = append(calls, made...)
		req.Messages = append(req.Messages,
			Message{Role: storage.RoleAssistant, Text: resp.Text, Calls: resp.Tools},
			Message{Role: storage.RoleCaller, Results: results})
	}
}
