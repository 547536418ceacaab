package bedrock_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/google/go-cmp/cmp"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/storage"
)

const greeting = "Hello, thanks for calling. How can I help you today?"

func conversation(turns ...storage.Turn) assistant.Conversation {
	all := append([]storage.Turn{{Number: 0, Role: storage.RoleAssistant, Text: greeting}}, turns...)
	return assistant.Conversation{CallSID: "CA" + strings.Repeat("b", 32), Language: "fr-FR", Turns: all}
}

func caller(n int, text string) storage.Turn {
	return storage.Turn{Number: n, Role: storage.RoleCaller, Text: text, Confidence: 0.9}
}

func turnCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func modelError(t *testing.T, err error, outcome string) *assistant.ModelError {
	t.Helper()
	var me *assistant.ModelError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *assistant.ModelError", err, err)
	}
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("error %q: kind %v, want ErrUnavailable", err, storage.KindOf(err))
	}
	if me.Outcome != outcome {
		t.Errorf("outcome %q, want %q (error %q, cause %v)", me.Outcome, outcome, err, me.Err)
	}
	return me
}

func TestReplyMultiTurnSendsHistoryInOrder(t *testing.T) {
	f := bedrocktest.New(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.TextOutput(fmt.Sprintf("Réponse %d.", n+1)))
	})
	env := mustAssistant(t, f, nil)
	c := conversation()
	said := []string{"Êtes-vous ouverts dimanche ?", "Et le lundi ?", "Merci, vous vendez du pain de seigle ?"}
	for i, text := range said {
		n := i + 1
		c.Turns = append(c.Turns, caller(n, text))
		got, err := env.a.Reply(turnCtx(t), c)
		if err != nil {
			t.Fatalf("turn %d: %v", n, err)
		}
		if want := fmt.Sprintf("Réponse %d.", n); got.Text != want || got.EndCall {
			t.Fatalf("turn %d: reply %+v, want %q", n, got, want)
		}
		c.Turns = append(c.Turns, storage.Turn{Number: n, Role: storage.RoleAssistant, Text: got.Text})
	}

	reqs := f.Requests()
	if len(reqs) != len(said) {
		t.Fatalf("fake received %d signed requests, want %d", len(reqs), len(said))
	}
	for i, r := range reqs {
		if r.RawErr != nil {
			t.Fatalf("request %d is not Converse JSON: %v", i, r.RawErr)
		}
		if r.ModelID != testModel {
			t.Errorf("request %d model %q, want %q", i, r.ModelID, testModel)
		}
		type msg struct{ Role, Text string }
		want := []msg{{"user", "(The call is connected.)"}, {"assistant", greeting}}
		for j := 0; j < i; j++ {
			want = append(want, msg{"user", said[j]}, msg{"assistant", fmt.Sprintf("Réponse %d.", j+1)})
		}
		want = append(want, msg{"user", said[i]})
		var got []msg
		for _, m := range r.Body.Messages {
			if len(m.Content) != 1 {
				t.Fatalf("request %d message has %d content blocks", i, len(m.Content))
			}
			got = append(got, msg{m.Role, m.Content[0].Text})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d history (-want +got):\n%s", i, diff)
		}
		if len(r.Body.System) != 1 || !strings.Contains(r.Body.System[0].Text, "Rosa's Bakery") || !strings.Contains(r.Body.System[0].Text, "fr-FR") {
			t.Errorf("request %d system = %+v, want the configured prompt", i, r.Body.System)
		}
		for _, s := range said {
			if strings.Contains(r.Body.System[0].Text, s) {
				t.Errorf("request %d: caller text %q leaked into the system prompt", i, s)
			}
		}
		if r.Body.InferenceConfig.MaxTokens != 150 {
			t.Errorf("request %d maxTokens %d", i, r.Body.InferenceConfig.MaxTokens)
		}
		if tc := r.Body.ToolConfig; tc == nil || len(tc.Tools) != 1 || tc.Tools[0].ToolSpec.Name != "end_call" ||
			tc.Tools[0].ToolSpec.InputSchema.JSON["type"] != "object" {
			t.Errorf("request %d toolConfig = %+v, want the end_call toolSpec", i, tc)
		}
	}
}

func TestReplyConnectionsReused(t *testing.T) {
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput("Oui.")))
	env := mustAssistant(t, f, nil)
	const turns = 10
	var reused atomic.Int64
	ctx := httptrace.WithClientTrace(turnCtx(t), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				reused.Add(1)
			}
		},
	})
	c := conversation()
	for n := 1; n <= turns; n++ {
		c.Turns = append(c.Turns, caller(n, "Et alors ?"))
		if _, err := env.a.Reply(ctx, c); err != nil {
			t.Fatalf("turn %d: %v", n, err)
		}
		c.Turns = append(c.Turns, storage.Turn{Number: n, Role: storage.RoleAssistant, Text: "Oui."})
	}
	// Without keep-alive every turn dials. Go's transport may still dial a
	// spare connection when a turn starts before the previous connection is
	// back in its pool, so the count is bounded, not exactly one.
	conns := f.NewConns()
	t.Logf("%d turns: %d connections accepted, %d requests on a reused connection", turns, conns, reused.Load())
	if conns >= turns || reused.Load() == 0 {
		t.Errorf("%d connections for %d turns, %d reused: connections are not kept alive", conns, turns, reused.Load())
	}
}

func TestReplyEndCall(t *testing.T) {
	tests := []struct {
		name  string
		input map[string]any
		want  string
	}{
		{"WithFarewell", map[string]any{"farewell": "Merci de votre appel, au revoir !"}, "Merci de votre appel, au revoir !"},
		{"WithoutFarewellSaysGoodbye", map[string]any{}, "Thank you for calling. Goodbye!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.ToolUseOutput("end_call", tt.input)))
			env := mustAssistant(t, f, nil)
			got, err := env.a.Reply(turnCtx(t), conversation(caller(1, "C'est tout, au revoir.")))
			if err != nil {
				t.Fatalf("Reply: %v", err)
			}
			if !got.EndCall || got.Text != tt.want {
				t.Errorf("Reply = %+v, want EndCall with %q", got, tt.want)
			}
		})
	}
}

func TestReplyRetries(t *testing.T) {
	t.Run("ThrottledThenOK", func(t *testing.T) {
		f := bedrocktest.New(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 0 {
				bedrocktest.AWSError(w, http.StatusTooManyRequests, "ThrottlingException", "Too many requests, please wait before trying again.")
				return
			}
			bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.TextOutput("Nous ouvrons à huit heures."))
		})
		env := mustAssistant(t, f, nil)
		got, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Vous ouvrez quand ?")))
		if err != nil {
			t.Fatalf("Reply: %v", err)
		}
		if got.Text != "Nous ouvrons à huit heures." || len(f.Requests()) != 2 {
			t.Errorf("Reply = %+v after %d requests, want the second answer", got, len(f.Requests()))
		}
	})

	t.Run("ServerErrorForeverErrUnavailable", func(t *testing.T) {
		f := bedrocktest.New(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			bedrocktest.AWSError(w, http.StatusInternalServerError, "InternalServerException", "internal error")
		})
		env := mustAssistant(t, f, func(c *assistant.ModelConfig) { c.TurnTimeout = 2 * time.Second })
		start := time.Now()
		_, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Allô ?")))
		elapsed := time.Since(start)
		modelError(t, err, assistant.OutcomeError)
		if !strings.HasPrefix(err.Error(), "provider returned 500 after ") {
			t.Errorf("message %q", err.Error())
		}
		if n := len(f.Requests()); n < 2 {
			t.Errorf("fake received %d requests, want retries", n)
		}
		if elapsed > 3*time.Second {
			t.Errorf("gave up after %s, beyond the 2 s turn deadline plus 1 s", elapsed)
		}
	})

	t.Run("AccessDeniedNotRetried", func(t *testing.T) {
		f := bedrocktest.New(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			bedrocktest.AWSError(w, http.StatusForbidden, "AccessDeniedException", "not allowed")
		})
		env := mustAssistant(t, f, nil)
		_, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Allô ?")))
		modelError(t, err, assistant.OutcomeError)
		if err.Error() != "provider returned 403" || len(f.Requests()) != 1 {
			t.Errorf("message %q after %d requests, want one 403", err.Error(), len(f.Requests()))
		}
	})
}

func TestReplyWrongCredentialsRejectedBySignatureCheck(t *testing.T) {
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput("unused")))
	client := bedrockruntime.NewFromConfig(aws.Config{
		Region:      bedrocktest.Region,
		Credentials: credentials.NewStaticCredentialsProvider(bedrocktest.KeyID, "wrong-secret", ""),
	}, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(f.URL()) })
	a, err := bedrock.NewWithClient(client, bedrock.Config{ModelID: testModel, Temperature: 0.3, MaxTokens: 150},
		assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Reply(turnCtx(t), conversation(caller(1, "Allô ?")))
	modelError(t, err, assistant.OutcomeError)
	if err.Error() != "provider returned 403" {
		t.Errorf("message %q", err.Error())
	}
}

func TestReplySlowProviderTimesOut(t *testing.T) {
	f := bedrocktest.New(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
			bedrocktest.WriteJSON(w, http.StatusOK, bedrocktest.TextOutput("Trop tard."))
		}
	})
	env := mustAssistant(t, f, func(c *assistant.ModelConfig) { c.TurnTimeout = time.Second })
	start := time.Now()
	_, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Allô ?")))
	elapsed := time.Since(start)
	modelError(t, err, assistant.OutcomeTimeout)
	if err.Error() != "assistant timed out after 1s" {
		t.Errorf("message %q", err.Error())
	}
	if elapsed > 2*time.Second {
		t.Errorf("returned after %s, beyond the 1 s deadline plus 1 s", elapsed)
	}
}

func TestReplyMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"InvalidJSON", `{"output":{"message":`},
		{"NoOutput", `{"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}`},
		{"NoText", `{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"end_turn"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, tt.body))
			env := mustAssistant(t, f, nil)
			_, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Allô ?")))
			modelError(t, err, assistant.OutcomeMalformed)
			if n := len(f.Requests()); n != 1 {
				t.Errorf("fake received %d requests, want 1", n)
			}
		})
	}
}

func TestReplyShapedForSpeech(t *testing.T) {
	long := "**Bien sûr !** Voici nos pains :\n1. baguette\n2. seigle\n\n" +
		strings.Repeat("Tout est fait à la main chaque matin dans notre boutique. ", 20) + "Voir https://rosa.example"
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput(long)))
	env := mustAssistant(t, f, nil)
	got, err := env.a.Reply(turnCtx(t), conversation(caller(1, "Quels pains ?")))
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if !strings.HasPrefix(got.Text, "Bien sûr ! Voici nos pains : baguette, seigle. Tout est fait") {
		t.Errorf("reply not speakable: %q", got.Text)
	}
	if n := utf8.RuneCountInString(got.Text); n > assistant.DefaultModelConfig().MaxReplyChars {
		t.Errorf("reply has %d characters, limit %d", n, assistant.DefaultModelConfig().MaxReplyChars)
	}
	if strings.ContainsAny(got.Text, "*#[\n") || strings.Contains(got.Text, "http") {
		t.Errorf("reply keeps markup: %q", got.Text)
	}
}

func TestSummarize(t *testing.T) {
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput(
		`{"summary":"Le client veut un gâteau pour samedi.","reason":"commande de gâteau","outcome":"rappel promis","follow_up":"yes"}`)))
	env := mustAssistant(t, f, nil)
	got, err := env.a.Summarize(turnCtx(t), conversation(caller(1, "Je voudrais un gâteau pour samedi.")))
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	if got.Text != "Le client veut un gâteau pour samedi." || got.Reason != "commande de gâteau" ||
		got.Outcome != "rappel promis" || !got.FollowUp {
		t.Errorf("summary = %+v", got)
	}
	r := f.Requests()[0].Body
	if r.ToolConfig != nil {
		t.Errorf("summary request offers tools")
	}
	if len(r.Messages) != 1 || r.Messages[0].Role != "user" || !strings.Contains(r.Messages[0].Content[0].Text, "Caller: Je voudrais un gâteau") {
		t.Errorf("summary request messages = %+v, want the transcript as user", r.Messages)
	}
}

func TestNewUsesDefaultCredentialChain(t *testing.T) {
	f := bedrocktest.New(t, bedrocktest.Always(http.StatusOK, bedrocktest.TextOutput("Bonjour.")))
	t.Setenv("AWS_ACCESS_KEY_ID", bedrocktest.KeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", bedrocktest.Secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	a, err := bedrock.New(context.Background(), bedrock.Config{
		ModelID: testModel, Region: bedrocktest.Region, Temperature: 0.3, MaxTokens: 150, Endpoint: f.URL(),
	}, assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got, err := a.Reply(turnCtx(t), conversation(caller(1, "Allô ?")))
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if got.Text != "Bonjour." {
		t.Errorf("Reply = %+v", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := bedrock.New(context.Background(), bedrock.Config{Temperature: 3, MaxTokens: 0},
		assistant.Deps{Config: assistant.DefaultModelConfig(), Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid", err)
	}
	for _, name := range []string{"BEDROCK_MODEL_ID", "BEDROCK_TEMPERATURE", "BEDROCK_MAX_TOKENS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
