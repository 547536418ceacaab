package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/assistant"
	"switchboard/handlers"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// echoModel repeats what it is given, as models repeat what they hear: its
// reply quotes the caller's last turn, its tool call carries it as an
// argument and result, its summary adds a number of its own, and an
// utterance starting "fail" makes it fail with an error that quotes it.
// It keeps the last caller turn each request was given.
type echoModel struct {
	*assistant.Scripted
	mu   sync.Mutex
	seen []string
}

func (m *echoModel) lastCaller(c assistant.Conversation) string {
	for i := len(c.Turns) - 1; i >= 0; i-- {
		if c.Turns[i].Role == storage.RoleCaller {
			return c.Turns[i].Text
		}
	}
	return ""
}

func (m *echoModel) Reply(_ context.Context, c assistant.Conversation) (assistant.Reply, error) {
	said := m.lastCaller(c)
	m.mu.Lock()
	m.seen = append(m.seen, said)
	m.mu.Unlock()
	if strings.HasPrefix(said, "fail") {
		return assistant.Reply{}, errors.New("provider refused the request: " + said)
	}
	args, _ := json.Marshal(map[string]string{"said": said})
	return assistant.Reply{Text: "You said " + said + ".", ToolCalls: []storage.ToolCall{{ID: "t1", Name: "note", Arguments: args, Result: args}}}, nil
}

func (m *echoModel) Summarize(_ context.Context, c assistant.Conversation) (storage.Summary, error) {
	return storage.Summary{Text: "The caller said: " + m.lastCaller(c) + ". Call back on 415 555 0199.", Reason: "card on file", Outcome: "noted"}, nil
}

func (m *echoModel) modelSaw() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen...)
}

// syncBuffer is a log sink the handlers and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// personal is what the redaction test's callers say that must not be kept.
var personal = []string{"4111 1111", "4111-1111", "415-555-0132", "555-0132", "555 0199", "jane.doe@example.com"}

// mustPostgres opens a store on url, closed when the test ends.
func mustPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url, MaxConns: 10, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("opening the PostgreSQL call store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// storedText is everything PostgreSQL keeps about the call (its turns,
// summary and pending work), read with SQL so nothing in between can hide
// what is there.
func storedText(t *testing.T, url, sid string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var out string
	err = conn.QueryRow(context.Background(), `SELECT
		coalesce((SELECT json_agg(t)::text FROM turns t WHERE call_sid = $1), '') ||
		coalesce((SELECT json_agg(s)::text FROM summaries s WHERE call_sid = $1), '') ||
		coalesce((SELECT json_agg(w)::text FROM work w WHERE call_sid = $1), '')`, sid).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func leaks(s string) []string {
	var out []string
	for _, p := range personal {
		if strings.Contains(s, p) {
			out = append(out, p)
		}
	}
	return out
}

// TestRedactGather runs a <Gather> call on PostgreSQL with each REDACT
// setting: with all, what PostgreSQL keeps (turns, tool calls, the failed
// turn's error, the summary) and what is logged hold no card number, phone
// number or address, each replaced by its kind; with logs only the logs
// are clean; with off both keep them, which shows the checks can fail.
func TestRedactGather(t *testing.T) {
	for _, c := range []struct {
		redact                  string
		rawModelInput           bool
		storeClean, logsClean   bool
		modelSawRaw, callerHear bool
	}{
		{redact: service.RedactAll, storeClean: true, logsClean: true},
		{redact: service.RedactAll, rawModelInput: true, storeClean: true, logsClean: true, modelSawRaw: true, callerHear: true},
		{redact: service.RedactLogs, logsClean: true, modelSawRaw: true, callerHear: true},
		{redact: service.RedactOff, modelSawRaw: true, callerHear: true},
	} {
		name := c.redact
		if c.rawModelInput {
			name += "/RawModelInput"
		}
		t.Run(name, func(t *testing.T) {
			url := pgtest.MigratedURL(t)
			db := mustPostgres(t, url)
			logs := &syncBuffer{}
			model := &echoModel{Scripted: assistant.NewScripted()}
			in := servicetest.Start(t, servicetest.Options{Calls: db, Assistant: model,
				Log: slog.New(slog.NewJSONHandler(logs, nil)),
				Configure: func(cfg *service.Config) {
					cfg.Redact, cfg.RedactModelInput = c.redact, !c.rawModelInput
				}})
			call := twiliotest.NewCall(servicetest.AccountSID)
			if r := in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")); r.Status != http.StatusOK {
				t.Fatalf("incoming call: %d %s", r.Status, r.Body)
			}
			said := "my card is 4111 1111 1111 1111 and my email is jane.doe@example.com"
			r := in.Webhook("/twilio/gather?turn=1", call.Form("SpeechResult", said, "Confidence", "0.9"))
			if r.Status != http.StatusOK {
				t.Fatalf("turn 1: %d %s", r.Status, r.Body)
			}
			if heard := strings.Contains(r.Body, "4111 1111 1111 1111"); heard != c.callerHear {
				t.Errorf("the caller heard the card number: %v, want %v: %s", heard, c.callerHear, r.Body)
			}
			r = in.Webhook("/twilio/gather?turn=2", call.Form("SpeechResult", "fail: call me on 415-555-0132", "Confidence", "0.9"))
			if r.Status != http.StatusOK {
				t.Fatalf("turn 2: %d %s", r.Status, r.Body)
			}
			// A repeated delivery of turn 1 answers from the store.
			if r := in.Webhook("/twilio/gather?turn=1", call.Form("SpeechResult", said, "Confidence", "0.9")); r.Status != http.StatusOK {
				t.Fatalf("turn 1 again: %d %s", r.Status, r.Body)
			}
			if r := in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "30")); r.Status/100 != 2 {
				t.Fatalf("status: %d %s", r.Status, r.Body)
			}
			servicetest.Eventually(t, 10*time.Second, "the summary", func() bool { return in.GetCall(call.CallSID).Summary != nil })

			stored := storedText(t, url, call.CallSID)
			if got := leaks(stored); (len(got) == 0) != c.storeClean {
				t.Errorf("PostgreSQL keeps %v (want it clean: %v):\n%s", got, c.storeClean, stored)
			}
			if c.storeClean {
				for _, want := range []string{"my card is [card] and my email is [email]", "fail: call me on [phone]", "Call back on [phone]", `"said":"my card is [card]`} {
					if !strings.Contains(stored, want) {
						t.Errorf("PostgreSQL does not keep %q:\n%s", want, stored)
					}
				}
			}
			logged := logs.String()
			if !strings.Contains(logged, "provider refused") {
				t.Fatalf("the failed turn was not logged:\n%s", logged)
			}
			if got := leaks(logged); (len(got) == 0) != c.logsClean {
				t.Errorf("the logs hold %v (want them clean: %v):\n%s", got, c.logsClean, logged)
			}
			seen := model.modelSaw()
			if len(seen) == 0 {
				t.Fatal("the model was never asked")
			}
			if raw := strings.Contains(seen[0], "4111 1111"); raw != c.modelSawRaw {
				t.Errorf("the model saw the card number: %v, want %v (it got %q)", raw, c.modelSawRaw, seen[0])
			}
		})
	}
}

// TestRedactRelay runs a streamed call with REDACT=all: the turns are
// stored redacted, and the first prompt on a new socket that repeats the
// latest caller turn is still recognised as Twilio's replay of it (the
// store has it only in its redacted form) and answered from the store.
func TestRedactRelay(t *testing.T) {
	url := pgtest.MigratedURL(t)
	db := mustPostgres(t, url)
	logs := &syncBuffer{}
	model := &echoModel{Scripted: assistant.NewScripted()}
	// Without Stream (hidden by the interface), so the reply is the echo.
	ai := struct{ assistant.Assistant }{model}
	in := servicetest.Start(t, servicetest.Options{Calls: db, Assistant: ai, Log: slog.New(slog.NewJSONHandler(logs, nil)),
		Configure: func(cfg *service.Config) {
			cfg.CallMode, cfg.Redact, cfg.RedactModelInput = handlers.ModeRelay, service.RedactAll, false
		}})
	call, sock := openRelay(t, in)
	said := "it's 4111-1111-1111-1111, call me on 415-555-0132"
	reply, _ := ask(t, sock, said)
	if !strings.Contains(reply, "4111-1111-1111-1111") {
		t.Errorf("with REDACT_MODEL_INPUT=false the model hears the caller's words: reply %q", reply)
	}
	waitTurns(t, in, call.CallSID, 3)
	_ = sock.Close()
	sock = reconnect(t, in, call)
	again, _ := ask(t, sock, said)
	if again != "You said it's [card], call me on [phone]." {
		t.Errorf("the replayed prompt got %q, want the stored reply", again)
	}
	c := in.GetCall(call.CallSID)
	callers := 0
	for _, tr := range c.Turns {
		if tr.Role == storage.RoleCaller {
			callers++
		}
	}
	if callers != 1 {
		t.Errorf("%d caller turns stored, want 1 (the replay is the same turn): %+v", callers, c.Turns)
	}
	stored := storedText(t, url, call.CallSID)
	if got := leaks(stored); len(got) > 0 {
		t.Errorf("PostgreSQL keeps %v:\n%s", got, stored)
	}
	if !strings.Contains(stored, "it's [card], call me on [phone]") {
		t.Errorf("the caller's turn is not stored redacted:\n%s", stored)
	}
	if got := leaks(logs.String()); len(got) > 0 {
		t.Errorf("the logs hold %v", got)
	}
}
