package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/assistant"
	"switchboard/storage"
	"switchboard/storage/redact"
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

	// One store call: the call is created if the incoming-call webhook went
	// unanswered or to another deployment (it is still real), the caller's
	// words are stored, and what the turn needs comes back.
	ctx, cancel := s.storeContext(c)
	defer cancel()
	st, err := s.writes.BeginTurn(ctx, nc, storage.Turn{Number: n, Text: speech, Confidence: confidence})
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	// The call's assistant version: read once per instance and version,
	// and kept (versions never change), so the steady state adds no round
	// trip.
	a, err := s.versions.Get(ctx, st.Call.Assistant)
	if err != nil {
		return err
	}
	sp := speechOf(a)
	if st.Answer != nil {
		s.metrics.turns.WithLabelValues("duplicate").Inc()
		return sendTwiML(c, s.render(sp, *st.Answer))
	}
	if err := storage.CheckSequence(st.Turns, n); err != nil {
		return err
	}
	if speech == "" {
		s.metrics.turns.WithLabelValues("silence").Inc()
		if silence >= a.Speech.MaxSilence {
			s.logger(c).Info("ending call after silence", "turn", n, "silence", silence)
			return sendTwiML(c, s.goodbye(sp, sayNoInput))
		}
		return sendTwiML(c, s.ask(sp, sayStillThere, n, max(silence, 1)))
	}
	if st.Call.Status.Terminal() {
		// The caller hung up while speaking: their last words are kept, but
		// asking the assistant would only cost time and money; Twilio
		// discards TwiML for a finished call anyway.
		s.logger(c).Info("turn after the call ended; not answered", "turn", n, "status", st.Call.Status)
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}

	// One assistant request per (call, turn) in this process; deliveries
	// racing on other instances are settled by the store: the first stored
	// answer wins and every delivery answers with it.
	v, err, _ := s.turns.Do(nc.SID+"/"+itoa(n), func() (any, error) {
		return s.answer(c.UserContext(), st.Call, s.modelTurns(st.Turns, n, speech), n, a)
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
	return sendTwiML(c, s.render(sp, turn))
}

// answer asks the assistant to answer caller turn n, the last of turns, and
// stores its answer, returning the assistant turn that is stored (possibly
// another delivery's).
func (s *Server) answer(ctx context.Context, call storage.Call, turns []storage.Turn, n int, a storage.Assistant) (storage.Turn, error) {
	conv := conversation(call, turns, &a)

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
	// The tools called are kept whatever the outcome: a tool the business
	// ran is part of the call's record.
	if len(r.ToolCalls) > 0 {
		reply.ToolCalls = r.ToolCalls
	}
	switch {
	case aerr == nil && strings.TrimSpace(r.Text) != "":
		reply.Text, reply.EndsCall = truncateText(r.Text), r.EndCall
		if r.Transfer != nil && !r.EndCall && n < storage.MaxTurn {
			reply.Transfer = newTransfer(n, a, r.Transfer)
		}
		s.metrics.turns.WithLabelValues("ok").Inc()
	default:
		if aerr == nil {
			aerr = errors.New("assistant returned an empty reply")
		}
		reply.Error = shortError(aerr)
		reply.Text = sayApology
		if failures := trailingFailures(turns) + 1; failures >= s.cfg.MaxFailures {
			reply.Text, reply.EndsCall = sayGiveUp, true
		}
		s.metrics.turns.WithLabelValues("failed").Inc()
	}
	if n >= storage.MaxTurn && !reply.EndsCall {
		reply.Text, reply.EndsCall = sayTooLong, true
	}
	// Store the answer even when the webhook's budget is spent: Twilio's
	// retry of this turn then answers from the store instead of asking again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
	defer cancel()
	stored, created, err := s.writes.AddTurn(sctx, reply)
	if created {
		// The caller hears the reply as written; the store may keep it
		// redacted.
		stored.Text = reply.Text
	}
	return stored, err
}

// modelTurns are the turns the model is given to answer caller turn n:
// as stored, except that with RawModelInput the caller's turn n is what
// they said rather than its redacted form (when said is known).
func (s *Server) modelTurns(turns []storage.Turn, n int, said string) []storage.Turn {
	if !s.cfg.RedactStored || !s.cfg.RawModelInput || said == "" {
		return turns
	}
	turns = slices.Clone(turns)
	for i, t := range turns {
		if t.Number == n && t.Role == storage.RoleCaller {
			turns[i].Text = said
		}
	}
	return turns
}

// storedForm is text as the call store keeps it.
func (s *Server) storedForm(text string) string {
	if s.cfg.RedactStored {
		return redact.String(text)
	}
	return text
}

// render turns a stored assistant turn into TwiML: the answer and the next
// question, or the answer and a hang-up.
func (s *Server) render(sp speech, t storage.Turn) []byte {
	if t.EndsCall {
		return s.goodbye(sp, t.Text)
	}
	if tr := t.Transfer; tr != nil {
		switch {
		case !tr.Ended():
			return renderTwiML(s.dialVerbs(sp, t)...)
		case tr.Connected():
			return renderTwiML(twimlHangup{})
		default:
			// A late repeat of the turn after the caller came back.
			return s.ask(sp, sayTransferFailed(tr.Target), t.Number+1, 0)
		}
	}
	return s.ask(sp, t.Text, t.Number+1, 0)
}

// conversation is what the assistant is given: the call, its turns in
// order (number, caller before assistant within a number) and the
// assistant version it runs with.
func conversation(call storage.Call, turns []storage.Turn, a *storage.Assistant) assistant.Conversation {
	turns = slices.Clone(turns)
	slices.SortStableFunc(turns, func(a, b storage.Turn) int {
		if a.Number != b.Number {
			return cmp.Compare(a.Number, b.Number)
		}
		return cmp.Compare(roleOrder(a.Role), roleOrder(b.Role))
	})
	return assistant.Conversation{CallSID: call.SID, From: call.From, To: call.To, Language: a.Language, Turns: turns, Assistant: a}
}

func roleOrder(r storage.Role) int {
	if r == storage.RoleCaller {
		return 0
	}
	return 1
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
