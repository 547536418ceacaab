package handlers_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/bedrock/bedrocktest"
	"switchboard/assistant/openai/openaitest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

func TestRelayIncomingCallHandsTheCallToConversationRelay(t *testing.T) {
	in := startRelay(t, nil, nil, nil)
	call, doc := incomingRelayCall(t, in)
	r := doc.Connect.Relay
	// Attribute names and values: the <ConversationRelay> TwiML page and
	// twilio-node's src/twiml/VoiceResponse.ts (ConversationRelayAttributes).
	want := []string{
		doc.Start.Recording.Callback, "https://switchboard.example.com/twilio/recording",
		doc.Connect.Action, "https://switchboard.example.com/twilio/relay/action",
		doc.Connect.Method, "POST",
		r.URL, "wss://switchboard.example.com/twilio/relay/" + call.CallSID,
		r.WelcomeGreeting, assistant.NewScripted().Greeting,
		r.Language, "en-US",
		r.TTSProvider, "Amazon",
		r.Voice, "Joanna-Neural",
		r.TranscriptionProvider, "Deepgram",
		r.Interruptible, "any",
		// Twilio reconnects a dropped socket, to any instance (changelog
		// 2026-10-28, conversation-relay--dynamic-configuration--application-reconnect).
		r.ApplicationReconnect, "true",
	}
	for i := 0; i < len(want); i += 2 {
		if want[i] != want[i+1] {
			t.Errorf("TwiML attribute = %q, want %q", want[i], want[i+1])
		}
	}
	// The greeting is stored as turn 0, as in <Gather> mode.
	got := in.GetCall(call.CallSID)
	if len(got.Turns) != 1 || got.Turns[0].Number != 0 || got.Turns[0].Text != r.WelcomeGreeting {
		t.Errorf("turns after the incoming call = %+v, want the greeting as turn 0", got.Turns)
	}
	off := startRelay(t, nil, nil, func(c *service.Config) { c.Relay.ApplicationReconnect = false })
	if _, doc := incomingRelayCall(t, off); doc.Connect.Relay.ApplicationReconnect != "" {
		t.Errorf("RELAY_APPLICATION_RECONNECT=false still writes applicationReconnect=%q", doc.Connect.Relay.ApplicationReconnect)
	}
}

// streamFake answers streamed requests with the tokens of plan n and
// whole ones (a <Gather> call's) with the same text in one piece.
type streamFake struct {
	*openaitest.Server
}

type streamPlan struct {
	tokens []string
	gap    time.Duration
	// gate, when set, holds the last token back until it is closed.
	gate <-chan struct{}
	// ended, when set, is called when the client goes away mid-stream.
	ended func()
}

func startStreamFake(t *testing.T, plans func(n int) streamPlan) streamFake {
	var f streamFake
	var mu sync.Mutex
	served := 0
	f.Server = openaitest.New(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := served
		served++
		mu.Unlock()
		p := plans(n)
		if !f.Server.Request(n).Body.Stream {
			openaitest.WriteJSON(w, http.StatusOK, openaitest.Completion(strings.Join(p.tokens, "")))
			return
		}
		s := openaitest.StartStream(w)
		for i, tok := range p.tokens {
			if i == len(p.tokens)-1 && p.gate != nil {
				select {
				case <-p.gate:
				case <-time.After(10 * time.Second):
					t.Error("the reply's first words never reached the caller while the model was still writing")
				case <-r.Context().Done():
				}
			}
			if i > 0 && p.gap > 0 {
				select {
				case <-time.After(p.gap):
				case <-r.Context().Done():
				}
			}
			if r.Context().Err() != nil || s.Text(tok) != nil {
				if p.ended != nil {
					p.ended()
				}
				return
			}
		}
		_ = s.Finish("stop")
	})
	return f
}

// transcript is a call's turns as (number, role, text).
func transcript(c storage.Call) []string {
	var out []string
	for _, tu := range c.Turns {
		out = append(out, strings.Join([]string{itoa(tu.Number), string(tu.Role), tu.Text}, " | "))
	}
	return out
}

func TestRelayWholeCallStreamsTokensAsTheyArrive(t *testing.T) {
	firstFrame := make(chan struct{})
	plans := func(n int) streamPlan {
		switch n {
		case 0:
			return streamPlan{tokens: []string{"We open ", "at nine", " today."}, gate: firstFrame}
		default:
			return streamPlan{tokens: []string{"We are on ", "Main Street."}}
		}
	}
	fake := startStreamFake(t, plans)
	in := startRelay(t, openaiStreamer(t, fake.BaseURL(), nil), nil, nil)
	call, c := openRelay(t, in)

	if err := c.Prompt("When do you open?"); err != nil {
		t.Fatal(err)
	}
	first, err := c.Next(20 * time.Second)
	if err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if first.Type != "text" || first.Token != "We open " || first.Last {
		t.Fatalf("first frame = %s, want the first words, not last", first.Raw)
	}
	close(firstFrame) // only now may the model write its last token
	rest, _, err := c.Reply(20 * time.Second)
	if err != nil {
		t.Fatalf("rest of the reply: %v", err)
	}
	if got := first.Token + rest; got != "We open at nine today." {
		t.Errorf("reply = %q", got)
	}
	if text, _ := ask(t, c, "Where are you?"); text != "We are on Main Street." {
		t.Errorf("second reply = %q", text)
	}

	// The second request carried the whole history, in order.
	var history []string
	for _, m := range fake.Request(1).Body.Messages[1:] {
		history = append(history, m.Role+": "+m.Content)
	}
	wantHistory := []string{"assistant: " + assistant.NewScripted().Greeting, "user: When do you open?",
		"assistant: We open at nine today.", "user: Where are you?"}
	if diff := cmp.Diff(wantHistory, history); diff != "" {
		t.Errorf("second request's history (-want +got):\n%s", diff)
	}

	got := waitTurns(t, in, call.CallSID, 5)
	for _, tu := range got.Turns {
		if tu.Role != storage.RoleAssistant || tu.Number == 0 {
			continue
		}
		l := tu.Latency
		if l == nil || l.FirstTokenMS < 0 || l.FirstTextMS < l.FirstTokenMS || l.LastTextMS < l.FirstTextMS {
			t.Errorf("turn %d latency = %+v, want prompt ≤ first token ≤ first text ≤ last text", tu.Number, l)
		}
	}

	// The same conversation through <Gather> webhooks gives the same
	// transcript: same numbers, roles and words.
	gfake := startStreamFake(t, plans)
	gin := servicetest.Start(t, servicetest.Options{Assistant: openaiStreamer(t, gfake.BaseURL(), nil)})
	gcall, _ := incomingRelayCall(t, gin)
	for n, words := range []string{"When do you open?", "Where are you?"} {
		r := gin.Webhook("/twilio/gather?turn="+itoa(n+1), gcall.Form("SpeechResult", words, "Confidence", "0.9"))
		if r.Status != http.StatusOK {
			t.Fatalf("gather turn %d: %d %s", n+1, r.Status, r.Body)
		}
	}
	if diff := cmp.Diff(transcript(gin.GetCall(gcall.CallSID)), transcript(got)); diff != "" {
		t.Errorf("relay transcript differs from the <Gather> one (-gather +relay):\n%s", diff)
	}
	if m := metricSum(t, in.Registry, "switchboard_relay_turn_latency_seconds", map[string]string{"stage": "first_text"}); m != 2 {
		t.Errorf("first_text latency observations = %v, want 2", m)
	}
}

func TestRelayBedrockStreamsToo(t *testing.T) {
	fake := bedrocktest.New(t, bedrocktest.Tokens(0, 5*time.Millisecond, nil, "We open ", "at nine."))
	mc := assistant.DefaultModelConfig()
	a, err := bedrock.NewWithClient(fake.Client(), bedrock.Config{ModelID: "m", Temperature: 0.3, MaxTokens: 150},
		assistant.Deps{Config: mc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in := startRelay(t, a, nil, nil)
	_, c := openRelay(t, in)
	text, frames := ask(t, c, "When do you open?")
	if text != "We open at nine." || len(frames) < 3 {
		t.Errorf("reply %q in %d frames; want the deltas as separate frames and a last one", text, len(frames))
	}
	if !fake.Request(0).Stream {
		t.Error("Bedrock was not asked through ConverseStream")
	}
}

func TestRelayBargeInCancelsTheModelAndKeepsWhatWasHeard(t *testing.T) {
	ended := make(chan struct{})
	var once sync.Once
	fake := startStreamFake(t, func(n int) streamPlan {
		if n == 0 {
			words := strings.SplitAfter("One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen.", " ")
			return streamPlan{tokens: words, gap: 40 * time.Millisecond, ended: func() { once.Do(func() { close(ended) }) }}
		}
		return streamPlan{tokens: []string{"Okay, ", "stopping."}}
	})
	in := startRelay(t, openaiStreamer(t, fake.BaseURL(), nil), nil, nil)
	call, c := openRelay(t, in)
	if err := c.Prompt("Count to sixteen."); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"One ", "two "} {
		f, err := c.Next(20 * time.Second)
		if err != nil || f.Token != want {
			t.Fatalf("frame = %s, %v; want %q", f.Raw, err, want)
		}
	}
	if err := c.Interrupt("One two", 800); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the model's stream went on after the caller interrupted")
	}
	got := waitTurns(t, in, call.CallSID, 3)
	a := got.Turns[2]
	if a.Role != storage.RoleAssistant || a.Text != "One two" || !a.Interrupted {
		t.Fatalf("assistant turn 1 = %+v, want what was heard, marked interrupted", a)
	}
	if a.Latency == nil || a.Latency.FirstTextMS < 0 {
		t.Errorf("interrupted turn latency = %+v, want the first text's", a.Latency)
	}
	for {
		// Frames sent before the interruption may still be in flight.
		if _, err := c.Next(100 * time.Millisecond); err != nil {
			break
		}
	}
	if text, _ := ask(t, c, "Stop, please."); text != "Okay, stopping." {
		t.Errorf("reply after the interruption = %q", text)
	}
	msgs := fake.Request(1).Body.Messages
	if n := len(msgs); n < 2 || msgs[n-2].Role != "assistant" || msgs[n-2].Content != "One two" {
		t.Errorf("history after the interruption = %+v; want the interrupted reply as heard", msgs)
	}
	if m := metricSum(t, in.Registry, "switchboard_turns_total", map[string]string{"outcome": "interrupted"}); m != 1 {
		t.Errorf("interrupted turns = %v, want 1", m)
	}
}

func TestRelayInterruptAfterTheReplyTruncatesTheStoredTurn(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, nil)
	call, c := openRelay(t, in)
	text, _ := ask(t, c, "What are your opening hours?")
	waitTurns(t, in, call.CallSID, 3)
	// Twilio was still speaking the whole reply when the caller spoke.
	heard := strings.Join(strings.Fields(text)[:3], " ")
	if err := c.Interrupt(heard, 900); err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, 10*time.Second, "the interruption to be stored", func() bool {
		a := in.GetCall(call.CallSID).Turns[2]
		return a.Interrupted && a.Text == heard
	})
}

func TestRelayEndCallEndsTheSessionAndTheActionSaysGoodbye(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, nil)
	call, c := openRelay(t, in)
	if err := c.Prompt("No thanks, goodbye."); err != nil {
		t.Fatal(err)
	}
	f, err := c.Next(20 * time.Second)
	if err != nil || f.Type != "end" {
		t.Fatalf("frame = %s, %v; want end", f.Raw, err)
	}
	var h struct {
		Reason   string `json:"reason"`
		Turn     int    `json:"turn"`
		Farewell string `json:"farewell"`
	}
	if err := json.Unmarshal([]byte(f.HandoffData), &h); err != nil || h.Reason != "end_call" || h.Turn != 1 || h.Farewell != s.Goodbye {
		t.Fatalf("handoffData %q (%v): want end_call at turn 1 with the farewell", f.HandoffData, err)
	}
	got := waitTurns(t, in, call.CallSID, 3)
	if a := got.Turns[2]; !a.EndsCall || a.Text != s.Goodbye {
		t.Errorf("assistant turn = %+v, want the farewell ending the call", a)
	}

	for name, tc := range map[string]struct {
		form []string
		want string
	}{
		"Ended": {[]string{"SessionStatus", "ended", "HandoffData", f.HandoffData}, "<Say voice=\"Polly.Joanna-Neural\" language=\"en-US\">" + s.Goodbye + "</Say><Hangup></Hangup>"},
		// The call's last reply ended it: a failed session after it does
		// not bring it back (relay_fallback_test.go has the live case).
		"Failed":    {[]string{"SessionStatus", "failed", "ErrorCode", "39001"}, "<Response><Hangup></Hangup></Response>"},
		"Completed": {[]string{"SessionStatus", "completed"}, "<Response><Hangup></Hangup></Response>"},
		"NoHandoff": {[]string{"SessionStatus", "ended"}, "<Response><Hangup></Hangup></Response>"},
	} {
		t.Run(name, func(t *testing.T) {
			form := call.Form(append([]string{"SessionId", "VX" + strings.Repeat("0", 32), "CallStatus", "in-progress"}, tc.form...)...)
			r := in.Webhook("/twilio/relay/action", form)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, tc.want) {
				t.Errorf("action = %d %s\nwant it to contain %s", r.Status, r.Body, tc.want)
			}
		})
	}
	t.Run("Unsigned", func(t *testing.T) {
		req := servicetest.SignedRequest(t, in.URL, "/twilio/relay/action", call.Form("SessionStatus", "ended"))
		req.Header.Set("X-Twilio-Signature", "forged")
		if r := in.Do(req); r.Status != http.StatusForbidden {
			t.Errorf("forged action callback: %d, want 403", r.Status)
		}
	})
}

func TestRelayReplayedPromptAfterReconnectIsTheSameTurn(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, nil)
	call, c := openRelay(t, in)
	first, _ := ask(t, c, "What are your opening hours?")
	waitTurns(t, in, call.CallSID, 3)
	_ = c.Abort()

	// Twilio reconnects and replays the prompt it cannot know arrived.
	c2 := reconnect(t, in, call)
	again, frames := ask(t, c2, "what are your opening hours")
	if again != first || len(frames) != 1 {
		t.Errorf("replayed prompt answered %q in %d frames; want the stored reply %q again", again, len(frames), first)
	}
	// A new utterance is a new turn.
	ask(t, c2, "Where are you located?")
	got := waitTurns(t, in, call.CallSID, 5)
	want := []string{
		"0 | assistant | " + s.Greeting,
		"1 | caller | What are your opening hours?",
		"1 | assistant | " + first,
		"2 | caller | Where are you located?",
	}
	if diff := cmp.Diff(want, transcript(got)[:4]); diff != "" {
		t.Errorf("turns (-want +got):\n%s", diff)
	}
	if len(got.Turns) != 5 {
		t.Errorf("%d turns, want 5: %v", len(got.Turns), transcript(got))
	}
}

func TestRelayReplayOfAnUnansweredPromptIsAnsweredOnce(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	in := startRelay(t, s, nil, nil)
	call, _ := incomingRelayCall(t, in)
	// The instance that stored the caller's words died before answering.
	if _, _, err := in.Calls.AddTurn(t.Context(), storage.Turn{CallSID: call.CallSID, Number: 1, Role: storage.RoleCaller,
		Text: "What are your opening hours?", Confidence: -1}); err != nil {
		t.Fatal(err)
	}
	c := reconnect(t, in, call)
	text, _ := ask(t, c, "What are your opening hours?")
	got := waitTurns(t, in, call.CallSID, 3)
	if len(got.Turns) != 3 || got.Turns[2].Number != 1 || got.Turns[2].Text != text {
		t.Errorf("turns = %v; want the reply stored as turn 1", transcript(got))
	}
}

func TestRelayProviderFailureApologises(t *testing.T) {
	fake := openaitest.New(t, openaitest.Always(http.StatusBadRequest, `{"error":{"message":"bad"}}`))
	in := startRelay(t, openaiStreamer(t, fake.BaseURL(), nil), nil, nil)
	call, c := openRelay(t, in)
	text, _ := ask(t, c, "Hello?")
	if !strings.Contains(text, "Sorry") {
		t.Errorf("reply = %q, want the apology", text)
	}
	got := waitTurns(t, in, call.CallSID, 3)
	if a := got.Turns[2]; a.Error == "" || a.Text != text {
		t.Errorf("assistant turn = %+v, want the apology with the error recorded", a)
	}
}

func TestRelaySocketsOfManyCallsAreIndependent(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = time.Millisecond
	in := startRelay(t, s, nil, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, c := openRelay(t, in)
			for _, words := range []string{"hours", "address", "price"} {
				if text, _ := ask(t, c, words); text == "" {
					t.Errorf("empty reply to %q", words)
				}
			}
		})
	}
	wg.Wait()
}
