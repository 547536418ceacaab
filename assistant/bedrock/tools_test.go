package bedrock_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/runtime/outbound"
	"switchboard/storage"
)

// shop is an assistant with a business tool at url and a transfer target.
func shop(url string) *storage.Assistant {
	return &storage.Assistant{AssistantSettings: storage.AssistantSettings{
		Tools: []storage.Tool{{Name: "order_status", Description: "Looks an order up.", URL: url, Secret: "whsec_" + strings.Repeat("A", 32),
			Parameters: json.RawMessage(`{"type":"object","properties":{"order":{"type":"string"}},"required":["order"]}`)}},
		TransferTargets: []storage.TransferTarget{{Name: "Sales", Number: "+14155550100", Description: "Quotes and orders.", Mode: storage.TransferWarm}},
	}}
}

// actingAssistant is the Bedrock assistant on f whose business tools run
// over the outbound client (private addresses allowed: the business is
// on loopback).
func actingAssistant(t *testing.T, f *bedrocktest.Server) *bedrock.Assistant {
	t.Helper()
	a, err := bedrock.NewWithClient(f.Client(), bedrock.Config{ModelID: testModel, Temperature: 0.3, MaxTokens: 150},
		assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler),
			Tools: assistant.HTTPTools{Client: outbound.New(outbound.Config{AllowPrivate: true})}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestReplyTools: the Converse request offers end_call, the business
// tools and transfer_call (names and descriptions, never a number) in
// toolConfig; a toolUse of a business tool runs it, and the next request
// sends the toolUse and its toolResult (paired by toolUseId) for the
// model's answer.
func TestReplyTools(t *testing.T) {
	var business atomic.Int32
	biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		business.Add(1)
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"arguments":{"order":"A-1"}`) {
			http.Error(w, "unexpected body "+string(body), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"status":"shipped"}`)
	}))
	t.Cleanup(biz.Close)
	f := bedrocktest.New(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.ToolUseOutput("order_status", map[string]any{"order": "A-1"}))
			return
		}
		bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.TextOutput("Elle est expédiée."))
	})
	a := actingAssistant(t, f)
	conv := conversation(caller(1, "Où en est ma commande A-1 ?"))
	conv.Assistant = shop(biz.URL)
	got, err := a.Reply(turnCtx(t), conv)
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if got.Text != "Elle est expédiée." || len(got.ToolCalls) != 1 || string(got.ToolCalls[0].Result) != `{"status":"shipped"}` ||
		got.ToolCalls[0].ID != "tooluse_1" || business.Load() != 1 {
		t.Fatalf("Reply = %+v (business requests %d)", got, business.Load())
	}

	first := f.Request(0).Body
	var offered []string
	for _, tool := range first.ToolConfig.Tools {
		offered = append(offered, tool.ToolSpec.Name)
	}
	if strings.Join(offered, " ") != "end_call order_status transfer_call" {
		t.Fatalf("tools offered: %v", offered)
	}
	raw, _ := json.Marshal(first.ToolConfig)
	if strings.Contains(string(raw), "4155550100") || !strings.Contains(string(raw), "Sales: Quotes and orders.") ||
		first.ToolConfig.Tools[1].ToolSpec.InputSchema.JSON["required"] == nil {
		t.Fatalf("toolConfig: %s", raw)
	}

	second := f.Request(1).Body.Messages
	if len(second) != 5 {
		t.Fatalf("second request: %d messages", len(second))
	}
	use, result := second[3], second[4]
	if use.Role != "assistant" || len(use.Content) != 1 || use.Content[0].ToolUse == nil ||
		use.Content[0].ToolUse.ToolUseID != "tooluse_1" || use.Content[0].ToolUse.Input["order"] != "A-1" {
		t.Fatalf("the toolUse sent back: %+v", use)
	}
	r := result.Content[0].ToolResult
	if result.Role != "user" || r == nil || r.ToolUseID != "tooluse_1" || r.Status != "success" || r.Content[0].JSON["status"] != "shipped" {
		t.Fatalf("the toolResult: %+v", result)
	}
}

// TestReplyTransferTool: a toolUse of transfer_call is a transfer to the
// target named, with the model's summary, and calls no business tool.
func TestReplyTransferTool(t *testing.T) {
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.ToolUseOutput("transfer_call",
		map[string]any{"target": "Sales", "summary": "Wants a quote for 40 chairs."})))
	a := actingAssistant(t, f)
	conv := conversation(caller(1, "Je voudrais parler aux ventes."))
	conv.Assistant = shop("http://127.0.0.1:1/unused")
	got, err := a.Reply(turnCtx(t), conv)
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if got.Transfer == nil || got.Transfer.Target.Number != "+14155550100" || got.Transfer.Summary != "Wants a quote for 40 chairs." || got.Text == "" || len(got.ToolCalls) != 0 {
		t.Fatalf("Reply = %+v", got)
	}
}

// TestReplyReplaysStoredToolCalls: on a later turn, the tool calls stored
// on earlier turns are sent as toolUse and toolResult blocks, identifiers
// and names made valid for Converse (another provider's, or a name the
// model made up), a failed call as an error result.
func TestReplyReplaysStoredToolCalls(t *testing.T) {
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput("Autre chose ?")))
	a := actingAssistant(t, f)
	conv := conversation(caller(1, "Et la commande B-2 ?"),
		storage.Turn{Number: 1, Role: storage.RoleAssistant, Text: "Le service ne répond pas.", ToolCalls: []storage.ToolCall{
			{ID: "call.7/x", Name: "order_status", Arguments: json.RawMessage(`{"order":"B-2"}`), Error: "the tool answered HTTP 500"},
			// A name the model made up, which Converse would refuse in
			// the history on every later turn.
			{ID: "call_8", Name: "browser.tabs.open", Arguments: json.RawMessage(`{}`), Error: `there is no tool named "browser.tabs.open"`}}},
		caller(2, "Tant pis, merci."))
	conv.Assistant = shop("http://127.0.0.1:1/unused")
	if _, err := a.Reply(turnCtx(t), conv); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	msgs := f.Request(0).Body.Messages
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, " ") != "user assistant user assistant user assistant user" {
		t.Fatalf("roles %v", roles)
	}
	use, res := msgs[3].Content[0].ToolUse, msgs[4].Content[0].ToolResult
	if use == nil || use.ToolUseID != "call_7_x" || use.Input["order"] != "B-2" || res == nil || res.ToolUseID != "call_7_x" ||
		res.Status != "error" || res.Content[0].JSON["error"] != "the tool answered HTTP 500" {
		t.Fatalf("replayed call: %+v %+v", msgs[3], msgs[4])
	}
	if made := msgs[3].Content[1].ToolUse; made == nil || made.Name != "browser_tabs_open" || msgs[4].Content[1].ToolResult.ToolUseID != "call_8" {
		t.Fatalf("the made-up tool as replayed: %+v", msgs[3].Content)
	}
	if msgs[5].Content[0].Text != "Le service ne répond pas." || msgs[6].Content[0].Text != "Tant pis, merci." {
		t.Fatalf("words after the call: %+v %+v", msgs[5], msgs[6])
	}
}

// TestReplyToolResultStatusByModel: a toolResult's status goes only to
// the models that accept it (Nova, Claude); others are sent none.
func TestReplyToolResultStatusByModel(t *testing.T) {
	for model, want := range map[string]string{
		"anthropic.claude-3-haiku-20240307-v1:0":     "error",
		"us.anthropic.claude-sonnet-4-20250514-v1:0": "error",
		"amazon.nova-lite-v1:0":                      "error",
		"meta.llama3-1-70b-instruct-v1:0":            "",
		"mistral.mistral-large-2407-v1:0":            "",
	} {
		t.Run(model, func(t *testing.T) {
			f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput("Autre chose ?")))
			a, err := bedrock.NewWithClient(f.Client(), bedrock.Config{ModelID: model, Temperature: 0.3, MaxTokens: 150},
				assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			conv := conversation(caller(1, "Et la commande B-2 ?"),
				storage.Turn{Number: 1, Role: storage.RoleAssistant, Text: "Le service ne répond pas.", ToolCalls: []storage.ToolCall{
					{ID: "c1", Name: "order_status", Arguments: json.RawMessage(`{}`), Error: "the tool answered HTTP 500"}}},
				caller(2, "Tant pis."))
			conv.Assistant = shop("http://127.0.0.1:1/unused")
			if _, err := a.Reply(turnCtx(t), conv); err != nil {
				t.Fatalf("Reply: %v", err)
			}
			res := f.Request(0).Body.Messages[4].Content[0].ToolResult
			if res == nil || res.Status != want || res.Content[0].JSON["error"] == nil {
				t.Fatalf("toolResult %+v, want status %q", res, want)
			}
		})
	}
}

// TestStreamTools: in a streamed turn, the words before the toolUse
// blocks are said as they arrive, every toolUse block (its input streamed
// in pieces) is run, in block order, and the next ConverseStream request
// sends the text and the toolUse blocks back with their toolResults.
func TestStreamTools(t *testing.T) {
	var business atomic.Int32
	biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		business.Add(1)
		fmt.Fprint(w, `{"status":"shipped"}`)
	}))
	t.Cleanup(biz.Close)
	f := bedrocktest.New(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 0 {
			bedrocktest.Tokens(0, 0, nil, "Elles sont ", "expédiées.")(n, w, r)
			return
		}
		s := bedrocktest.StartStream(w)
		_ = s.Text("Je ")
		_ = s.Text("regarde.")
		_ = s.Event("contentBlockStop", map[string]any{"contentBlockIndex": 0})
		_ = s.ToolUseAt(1, "tooluse_a", "order_status", `{"order"`, `: "A-1"}`)
		_ = s.ToolUseAt(2, "tooluse_b", "order_status", `{"order": "B-2"}`)
		_ = s.Finish("tool_use")
	})
	a := actingAssistant(t, f)
	conv := conversation(caller(1, "Où en sont mes commandes A-1 et B-2 ?"))
	conv.Assistant = shop(biz.URL)
	got := newCollect()
	reply, err := a.Stream(turnCtx(t), conv, got.sink())
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	const want = "Je regarde. Elles sont expédiées."
	if reply.Text != want || got.said() != want || len(reply.ToolCalls) != 2 || reply.ToolCalls[0].ID != "tooluse_a" ||
		reply.ToolCalls[1].ID != "tooluse_b" || string(reply.ToolCalls[1].Arguments) != `{"order": "B-2"}` || business.Load() != 2 {
		t.Fatalf("Stream = %+v, said %q (business requests %d)", reply, got.said(), business.Load())
	}
	if !f.Request(0).Stream || !f.Request(1).Stream {
		t.Fatal("a round was not a ConverseStream request")
	}
	second := f.Request(1).Body.Messages
	use, result := second[len(second)-2], second[len(second)-1]
	var ids []string
	for _, c := range use.Content {
		if c.ToolUse != nil {
			ids = append(ids, c.ToolUse.ToolUseID+"="+fmt.Sprint(c.ToolUse.Input["order"]))
		}
	}
	if use.Role != "assistant" || use.Content[0].Text != "Je regarde." || strings.Join(ids, " ") != "tooluse_a=A-1 tooluse_b=B-2" {
		t.Fatalf("the toolUse sent back: %+v", use)
	}
	if len(result.Content) != 2 || result.Content[0].ToolResult == nil || result.Content[0].ToolResult.ToolUseID != "tooluse_a" ||
		result.Content[1].ToolResult == nil || result.Content[1].ToolResult.ToolUseID != "tooluse_b" {
		t.Fatalf("the toolResults: %+v", result)
	}
}
