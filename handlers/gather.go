package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/assistant"
	"switchboard/storage"
)

// gather answers caller turn N (?turn=N). A repeated delivery of turn N
// returns the stored answer without asking the assistant again. The
// <Redirect> after each <Gather> arrives with ?silence=K when the caller
// said nothing.
func (s *Server) gather(c *fiber.Ctx) error {
	f := formOf(c)
	n, err := queryInt(c, "turn", -1, 1, storage.MaxTurn)
	if err != nil || n < 0 {
		return storage.Errorf(storage.ErrInvalid, "query parameter turn must be an integer from 1 to %d", storage.MaxTurn)
	}
	silence, err := queryInt(c, "silence", 0, 0, 20)
	if err != nil {
		return err
	}
	nc, err := s.callFromForm(f)
	if err != nil {
		return err
	}
	speech := strings.TrimSpace(f.Get("SpeechResult"))
	if len(speech) > storage.MaxTurnText {
		return storage.Errorf(storage.ErrInvalid, "SpeechResult exceeds %d bytes", storage.MaxTurnText)
	}
	confidence := -1.0
	if v := f.Get("Confidence"); v != "" {
		if _, err := fmt.Sscanf(v, "%g", &confidence); err != nil || confidence < 0 || confidence > 1 {
			return storage.Errorf(storage.ErrInvalid, "parameter Confidence must be a number from 0 to 1")
		}
	}

	ctx, cancel := s.storeContext(c)
	call, err := s.calls.GetCall(ctx, nc.SID)
	if errors.Is(err, storage.ErrNotFound) {
		// The incoming-call webhook went unanswered or to another deployment;
		// the call is still real, so keep its record.
		if _, err = s.calls.UpsertCall(ctx, nc); err == nil {
			call, err = s.calls.GetCall(ctx, nc.SID)
		}
	}
	cancel()
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	if stored, ok := findTurn(call.Turns, n, storage.RoleAssistant); ok {
		s.metrics.turns.WithLabelValues("duplicate").Inc()
		return sendTwiML(c, s.render(stored))
	}
	if err := checkSequence(call.Turns, n); err != nil {
		return err
	}
	if speech == "" {
		s.metrics.turns.WithLabelValues("silence").Inc()
		if silence >= s.cfg.MaxSilence {
			s.logger(c).Info("ending call after silence", "turn", n, "silence", silence)
			return sendTwiML(c, s.goodbye(sayNoInput))
		}
		return sendTwiML(c, s.ask(sayStillThere, n, max(silence, 1)))
	}

	if call.Status.Terminal() {
		// The caller hung up while speaking: keep their last words, but
		// asking the assistant would only cost time and money; Twilio
		// discards TwiML for a finished call anyway.
		sctx, cancel := s.storeContext(c)
		_, _, err := s.calls.AddTurn(sctx, storage.Turn{CallSID: nc.SID, Number: n, Role: storage.RoleCaller, Text: speech, Confidence: confidence})
		cancel()
		if errors.Is(err, storage.ErrGone) {
			return s.hangUpDeletedCall(c)
		}
		if err != nil {
			return err
		}
		s.logger(c).Info("turn after the call ended; not answered", "turn", n, "status", call.Status)
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}

	// One assistant request per (call, turn) in this process; deliveries
	// racing on other instances are settled by the store: the first stored
	// answer wins and every delivery answers with it.
	v, err, _ := s.turns.Do(nc.SID+"/"+itoa(n), func() (any, error) {
		return s.answer(c.UserContext(), call, n, speech, confidence)
	})
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	turn := v.(storage.Turn)
	if turn.Error != "" {
		s.logger(c).Warn("assistant failed; caller hears an apology", "turn", n, "err", turn.Error)
	}
	return sendTwiML(c, s.render(turn))
}

// answer stores caller turn n, asks the assistant and stores its answer,
// returning the assistant turn that is stored (possibly another delivery's).
func (s *Server) answer(ctx context.Context, call storage.Call, n int, speech string, confidence float64) (storage.Turn, error) {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	callerTurn, _, err := s.calls.AddTurn(sctx, storage.Turn{
		CallSID: call.SID, Number: n, Role: storage.RoleCaller, Text: speech, Confidence: confidence,
	})
	cancel()
	if err != nil {
		return storage.Turn{}, err
	}
	conv := conversation(call, s.cfg.Language)
	conv.Turns = append(conv.Turns, callerTurn)

	reply := storage.Turn{CallSID: call.SID, Number: n, Role: storage.RoleAssistant}
	// The assistant gets its turn deadline, cut short if the webhook's
	// budget would not leave time to store the answer.
	adeadline := time.Now().Add(s.cfg.TurnTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-finalWrite).Before(adeadline) {
		adeadline = dl.Add(-finalWrite)
	}
	actx, acancel := context.WithDeadline(ctx, adeadline)
	r, aerr := s.ai.Reply(actx, conv)
	acancel()
	switch {
	case aerr == nil && strings.TrimSpace(r.Text) != "":
		reply.Text, reply.EndsCall = truncateText(r.Text), r.EndCall
		s.metrics.turns.WithLabelValues("ok").Inc()
	default:
		if aerr == nil {
			aerr = errors.New("assistant returned an empty reply")
		}
		reply.Error = shortError(aerr)
		reply.Text = sayApology
		if failures := trailingFailures(call.Turns) + 1; failures >= s.cfg.MaxFailures {
			reply.Text, reply.EndsCall = sayGiveUp, true
		}
		s.metrics.turns.WithLabelValues("failed").Inc()
	}
	if n >= storage.MaxTurn && !reply.EndsCall {
		reply.Text, reply.EndsCall = sayTooLong, true
	}
	// Store the answer even when the webhook's budget is spent: Twilio's
	// retry of this turn then answers from the store instead of asking again.
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
	defer cancel()
	stored, _, err := s.calls.AddTurn(sctx, reply)
	return stored, err
}

// render turns a stored assistant turn into TwiML: the answer and the next
// question, or the answer and a hang-up.
func (s *Server) render(t storage.Turn) []byte {
	if t.EndsCall {
		return s.goodbye(t.Text)
	}
	return s.ask(t.Text, t.Number+1, 0)
}

func conversation(call storage.Call, lang string) assistant.Conversation {
	turns := make([]storage.Turn, len(call.Turns))
	copy(turns, call.Turns)
	sort.SliceStable(turns, func(i, j int) bool {
		if turns[i].Number != turns[j].Number {
			return turns[i].Number < turns[j].Number
		}
		return turns[i].Role == storage.RoleCaller && turns[j].Role == storage.RoleAssistant
	})
	return assistant.Conversation{CallSID: call.SID, From: call.From, To: call.To, Language: lang, Turns: turns}
}

func findTurn(turns []storage.Turn, n int, role storage.Role) (storage.Turn, bool) {
	for _, t := range turns {
		if t.Number == n && t.Role == role {
			return t, true
		}
	}
	return storage.Turn{}, false
}

// checkSequence refuses a turn that cannot follow the stored conversation:
// one past the next expected turn, or after the assistant ended the call.
func checkSequence(turns []storage.Turn, n int) error {
	last := 0
	for _, t := range turns {
		if t.Role != storage.RoleAssistant {
			continue
		}
		if t.EndsCall && t.Number < n {
			return storage.Errorf(storage.ErrConflict, "the call already ended at turn %d", t.Number)
		}
		last = max(last, t.Number)
	}
	if n > last+1 {
		return storage.Errorf(storage.ErrConflict, "turn %d arrived before turn %d was answered", n, last+1)
	}
	return nil
}

// trailingFailures counts the assistant's failed answers at the end of the
// conversation, so repeated failures end the call without any state kept
// outside the store.
func trailingFailures(turns []storage.Turn) int {
	var answers []storage.Turn
	for _, t := range turns {
		if t.Role == storage.RoleAssistant && t.Number > 0 {
			answers = append(answers, t)
		}
	}
	sort.Slice(answers, func(i, j int) bool { return answers[i].Number < answers[j].Number })
	n := 0
	for i := len(answers) - 1; i >= 0 && answers[i].Error != ""; i-- {
		n++
	}
	return n
}

// shortError is what a failed turn records: the client-safe message when the
// error has one, else its text, bounded.
func shortError(err error) string {
	msg := storage.Message(err)
	if k := storage.KindOf(err); msg == "" || k != nil && msg == k.Error() {
		msg = err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) && !strings.Contains(msg, "time") {
		msg = "assistant timed out: " + msg
	}
	return truncateLog(msg, 300)
}

func truncateText(s string) string {
	if len(s) <= storage.MaxTurnText {
		return s
	}
	cut := storage.MaxTurnText
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}

func truncateLog(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
