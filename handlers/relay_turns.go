package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"switchboard/assistant"
	"switchboard/storage"
)

// Turns of a streamed call. Each final prompt is caller turn N and the reply
// to it assistant turn N, stored as each completes, in the same rows as a
// <Gather> call's, so the transcript, summary and API are the same for both
// modes.
//
// Idempotency. N is one more than the highest turn number stored for the
// call, read from the store when the socket opens and kept current by the
// session, so a socket that reconnects to any instance carries on the
// numbering. A prompt is a replay, not a new turn, when it is the first
// prompt on its socket and says the same words (ignoring case, spacing and
// punctuation) as the call's latest caller turn: Twilio replays the events
// a dropped socket may have missed when it reconnects
// (applicationReconnect), and the latest utterance before the drop is the
// only one that may have been received already. The exception is a turn
// whose answer transferred the caller and whose transfer is over: the
// caller is back in a new session, and the same words are a new request
// (to try the transfer again, say). A replay is attached to
// that turn: if its reply is stored, the stored text is sent again (unless
// the caller had interrupted it) and nothing new is asked of the
// assistant; if not, the reply is made and stored once. The store's
// one-row-per-(call, number, role) rule settles two sockets racing on one
// call: the first stored caller turn and reply win, and a different
// utterance that lost the race for N is stored as N+1.

// errInterrupted stops a reply the caller talked over.
var errInterrupted = errors.New("caller interrupted the reply")

// errSocketGone stops a reply whose socket closed.
var errSocketGone = errors.New("the socket closed")

// replyRun is one reply streaming to the caller.
type replyRun struct {
	number   int
	resumed  bool // answers a turn a previous socket left unanswered
	promptAt time.Time
	cancel   context.CancelFunc
	done     chan replyResult

	mu         sync.Mutex
	sent       strings.Builder
	stop       error   // errInterrupted or errSocketGone once stopped
	complete   bool    // the closing frame (last) was sent: the reply is whole
	heard      *string // what Twilio said the caller heard, on interrupt
	firstToken time.Time
	firstText  time.Time
	lastText   time.Time
}

type replyResult struct {
	reply assistant.StreamReply
	err   error
}

// handle acts on one message from Twilio.
func (rs *relaySession) handle(ev inbound) *closeReason {
	m := ev.msg
	switch m.Type {
	case frameSetup:
		return rs.setup(m)
	case framePrompt:
		if !m.final() || rs.ended {
			return nil
		}
		text := truncateText(strings.TrimSpace(m.VoicePrompt))
		if text == "" {
			return nil
		}
		rs.stopResume()
		if rs.replaysResumed(text) {
			rs.prompts++
			rs.s.relay.metrics.takeovers.WithLabelValues("replayed").Inc()
			return nil
		}
		if rs.cur != nil {
			// The caller spoke again before the reply was done: what was
			// sent so far is what they heard.
			rs.stopReply(false)
		}
		return rs.answer(text, ev.at)
	case frameInterrupt:
		heard := truncateText(strings.TrimSpace(m.UtteranceUntilInterrupt))
		if rs.cur != nil {
			rs.cur.interrupt(heard)
			return nil
		}
		rs.interruptStored(heard)
	case frameError:
		rs.log.Warn("relay: Twilio reported an error", "description", truncateLog(m.Description, 300))
		rs.twilioError()
	default:
		// dtmf, info and types Twilio may add: nothing to do.
		rs.log.Debug("relay: message ignored", "type", frameLabel(m.Type))
	}
	return nil
}

// setup checks the session's setup message against the socket's call and
// creates the call's record if no webhook did.
func (rs *relaySession) setup(m relayInbound) *closeReason {
	if m.CallSID != rs.callSID {
		rs.log.Warn("relay: setup names another call", "setup_call_sid", truncateLog(m.CallSID, 40))
		return &closePolicy
	}
	if rs.known {
		return nil
	}
	nc := storage.NewCall{SID: m.CallSID, AccountSID: m.AccountSID, From: truncateLog(m.From, 64), To: truncateLog(m.To, 64),
		Direction: truncateLog(m.Direction, 32), Status: storage.StatusInProgress, At: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := nc.Check(); err != nil {
		rs.log.Warn("relay: setup is invalid", "err", err.Error())
		return &closePolicy
	}
	ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.RequestTimeout)
	defer cancel()
	if _, _, err := rs.s.writes.StartCall(ctx, nc, storage.Turn{}); err != nil {
		if errors.Is(err, storage.ErrGone) {
			rs.sendEnd(handoff{Reason: handoffGone})
			return nil
		}
		rs.log.Error("relay: cannot store the call", "err", err.Error())
		return &closeStore
	}
	call, err := rs.s.calls.GetCall(ctx, rs.callSID)
	if err != nil {
		rs.log.Error("relay: cannot load the call", "err", err.Error())
		return &closeStore
	}
	rs.call, rs.known = call, true
	return nil
}

// answer stores caller turn N and streams the reply to it.
func (rs *relaySession) answer(text string, at time.Time) *closeReason {
	if !rs.known {
		rs.log.Warn("relay: prompt before setup on a call the store does not know")
		return &closePolicy
	}
	n, replay := rs.numberFor(text)
	rs.prompts++
	if n > storage.MaxTurn {
		rs.sendEnd(handoff{Reason: handoffTooLong, Turn: storage.MaxTurn, Farewell: sayTooLong})
		return nil
	}
	if !replay {
		stored, err := rs.storeCallerTurn(n, text)
		if errors.Is(err, storage.ErrGone) {
			rs.sendEnd(handoff{Reason: handoffGone})
			return nil
		}
		if err != nil {
			rs.log.Error("relay: cannot store the caller's turn", "turn", n, "err", err.Error())
			return &closeStore
		}
		n = stored.Number
	}
	if a, ok := storedTurn(rs.call.Turns, n, storage.RoleAssistant); ok {
		rs.s.metrics.turns.WithLabelValues("duplicate").Inc()
		rs.resend(a)
		return nil
	}
	if rs.call.Status.Terminal() {
		rs.log.Info("relay: turn after the call ended; not answered", "turn", n)
		return nil
	}
	a, err := rs.assistant()
	if err != nil {
		rs.log.Error("relay: cannot read the call's assistant version", "err", err.Error())
		return &closeStore
	}
	rs.startReply(n, at, a, text)
	return nil
}

// assistant is the version the call runs with (assistant.Versions keeps
// it once read).
func (rs *relaySession) assistant() (storage.Assistant, error) {
	ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.RequestTimeout)
	defer cancel()
	return rs.s.versions.Get(ctx, rs.call.Assistant)
}

// numberFor applies the idempotency rule above: the latest caller turn for
// a replay, the next number otherwise.
func (rs *relaySession) numberFor(text string) (int, bool) {
	next, last := 0, -1
	var lastText string
	for _, t := range rs.call.Turns {
		next = max(next, t.Number+1)
		if t.Role == storage.RoleCaller && t.Number > last {
			last, lastText = t.Number, t.Text
		}
	}
	if rs.prompts == 0 && last >= 0 && sameUtterance(lastText, rs.s.storedForm(text)) && !transferredBack(rs.call.Turns, last) {
		return last, true
	}
	return max(next, 1), false
}

// transferredBack reports whether turn n's answer transferred the caller
// and the transfer is over: the caller is back in a new session, so the
// same words again are a new request, not a replay of turn n.
func transferredBack(turns []storage.Turn, n int) bool {
	a, ok := storedTurn(turns, n, storage.RoleAssistant)
	return ok && a.Transfer != nil && a.Transfer.Ended()
}

// sameUtterance compares what a caller said, ignoring case, spacing and
// punctuation, which speech recognition varies between deliveries.
func sameUtterance(a, b string) bool {
	key := func(s string) string {
		return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
		}), " ")
	}
	return key(a) == key(b)
}

// storeCallerTurn stores caller turn n; when another socket stored a
// different utterance as n first, this one becomes the next number.
func (rs *relaySession) storeCallerTurn(n int, text string) (storage.Turn, error) {
	for range 2 {
		ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.RequestTimeout)
		stored, created, err := rs.s.writes.AddTurn(ctx, storage.Turn{CallSID: rs.callSID, Number: n,
			Role: storage.RoleCaller, Text: text, Confidence: -1})
		cancel()
		if err != nil {
			return storage.Turn{}, err
		}
		if created || sameUtterance(stored.Text, rs.s.storedForm(text)) {
			rs.remember(stored)
			return stored, nil
		}
		if err := rs.reload(); err != nil {
			return storage.Turn{}, err
		}
		n, _ = rs.numberFor(text)
	}
	return storage.Turn{}, storage.Errorf(storage.ErrConflict, "turn %d was taken twice by another socket", n)
}

// reload reads the call's turns again from the store.
func (rs *relaySession) reload() error {
	ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.RequestTimeout)
	defer cancel()
	call, err := rs.s.calls.GetCall(ctx, rs.callSID)
	if err == nil {
		rs.call = call
	}
	return err
}

// remember keeps a stored turn in the session's copy of the call.
func (rs *relaySession) remember(t storage.Turn) {
	for i, old := range rs.call.Turns {
		if old.Number == t.Number && old.Role == t.Role {
			rs.call.Turns[i] = t
			return
		}
	}
	rs.call.Turns = append(rs.call.Turns, t)
}

// resend says a stored reply again (a replayed prompt), unless the caller
// had interrupted it; an ending or transferring turn ends the session
// again.
func (rs *relaySession) resend(a storage.Turn) {
	if !a.Interrupted && a.Text != "" && !a.EndsCall {
		if rs.send(relayText{Type: "text", Token: a.Text, Last: true}, "text") != nil {
			return
		}
	}
	switch {
	case a.EndsCall:
		rs.sendEnd(handoff{Reason: handoffEndCall, Turn: a.Number, Farewell: a.Text})
	case a.Transfer != nil && !a.Transfer.Ended():
		// The session that said it ended before Twilio heard the end.
		rs.sendEnd(handoff{Reason: handoffTransfer, Turn: a.Number})
	}
}

// startReply streams the assistant's answer to caller turn n.
func (rs *relaySession) startReply(n int, promptAt time.Time, a storage.Assistant, said string) {
	// The assistant's own deadline (ASSISTANT_TURN_TIMEOUT) ends a stuck
	// stream first; this bounds one that ignores it.
	ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.TurnTimeout+5*time.Second)
	run := &replyRun{number: n, promptAt: promptAt, cancel: cancel, done: make(chan replyResult, 1)}
	rs.cur = run
	conv := conversation(rs.call, rs.s.modelTurns(rs.call.Turns, n, said), &a)
	ai := streamerOf(rs.s.ai)
	go func() {
		defer cancel()
		reply, err := ai.Stream(ctx, conv, assistant.Sink{
			Text:       func(text string) error { return run.say(rs, text) },
			FirstToken: run.token,
		})
		if err == nil && run.said() != "" {
			// Close the talk cycle: Twilio speaks what it has.
			err = run.say(rs, "", true)
		}
		run.done <- replyResult{reply: reply, err: err}
	}()
}

// say sends one piece of the reply unless the reply was stopped.
func (run *replyRun) say(rs *relaySession, text string, last ...bool) error {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.stop != nil {
		return run.stop
	}
	isLast := len(last) > 0 && last[0]
	if err := rs.send(relayText{Type: "text", Token: text, Last: isLast}, "text"); err != nil {
		run.stop = errSocketGone
		return errSocketGone
	}
	now := time.Now()
	if isLast {
		run.complete = true
	}
	if text != "" {
		if run.firstText.IsZero() {
			run.firstText = now
		}
		run.sent.WriteString(text)
	}
	run.lastText = now
	return nil
}

func (run *replyRun) token(at time.Time) {
	run.mu.Lock()
	run.firstToken = at
	run.mu.Unlock()
}

func (run *replyRun) said() string {
	run.mu.Lock()
	defer run.mu.Unlock()
	return strings.TrimSpace(run.sent.String())
}

// interrupt stops the reply at once; heard is what the caller heard.
func (run *replyRun) interrupt(heard string) {
	run.mu.Lock()
	if run.stop == nil {
		run.stop = errInterrupted
	}
	if run.heard == nil {
		run.heard = &heard
	}
	run.mu.Unlock()
	run.cancel()
}

// stopReply ends the reply in flight, if any, and stores it: as heard in
// full when the caller spoke again without an interrupt, as cut short when
// the socket closed.
func (rs *relaySession) stopReply(socketGone bool) {
	run := rs.cur
	if run == nil {
		return
	}
	run.mu.Lock()
	// A reply whose closing frame was sent is whole: what happens to the
	// socket or the caller's next words after that does not cut it.
	if run.stop == nil && !run.complete {
		if socketGone {
			run.stop = errSocketGone
		} else {
			run.stop = errInterrupted
			said := strings.TrimSpace(run.sent.String())
			run.heard = &said
		}
	}
	run.mu.Unlock()
	run.cancel()
	rs.finishReply(<-run.done)
}

// finishReply stores the assistant's turn once its reply is over, and ends
// the session when the call must end.
func (rs *relaySession) finishReply(res replyResult) {
	run := rs.cur
	rs.cur = nil
	run.mu.Lock()
	sent := strings.TrimSpace(run.sent.String())
	stop, heard := run.stop, run.heard
	lat := &storage.Latency{FirstTokenMS: sinceMS(run.promptAt, run.firstToken),
		FirstTextMS: sinceMS(run.promptAt, run.firstText), LastTextMS: sinceMS(run.promptAt, run.lastText)}
	run.mu.Unlock()

	turn := storage.Turn{CallSID: rs.callSID, Number: run.number, Role: storage.RoleAssistant, Confidence: -1, Latency: lat}
	var end *handoff
	switch {
	case heard != nil:
		turn.Text, turn.Interrupted = *heard, true
		rs.s.metrics.turns.WithLabelValues("interrupted").Inc()
	case stop == errSocketGone:
		// Not stored: the socket that takes the call over answers the
		// turn again (relay_takeover.go).
		rs.log.Info("relay: the socket closed mid-reply; the turn is left for the next socket", "turn", run.number, "sent_chars", len(sent))
		rs.s.relay.metrics.takeovers.WithLabelValues("reply_cut").Inc()
		return
	case res.err != nil && sent == "":
		turn.Text, turn.Error = sayApology, shortError(res.err)
		if trailingFailures(rs.call.Turns)+1 >= rs.s.cfg.MaxFailures {
			turn.Text, turn.EndsCall = sayGiveUp, true
			end = &handoff{Reason: handoffGiveUp, Turn: run.number, Farewell: sayGiveUp}
		} else if rs.send(relayText{Type: "text", Token: sayApology, Last: true}, "text") != nil {
			turn.Interrupted = true
		}
		rs.s.metrics.turns.WithLabelValues("failed").Inc()
		rs.log.Warn("relay: assistant failed; caller hears an apology", "turn", run.number, "err", turn.Error)
	case res.err != nil:
		// Failed mid-reply: the caller heard the start; end the talk cycle.
		turn.Text, turn.Error = sent, shortError(res.err)
		_ = rs.send(relayText{Type: "text", Token: "", Last: true}, "text")
		rs.s.metrics.turns.WithLabelValues("failed").Inc()
		rs.log.Warn("relay: assistant failed mid-reply", "turn", run.number, "err", turn.Error)
	case res.reply.EndCall:
		turn.Text = strings.TrimSpace(sent + " " + res.reply.Farewell)
		turn.EndsCall = true
		end = &handoff{Reason: handoffEndCall, Turn: run.number, Farewell: res.reply.Farewell}
		rs.s.metrics.turns.WithLabelValues("ok").Inc()
	case res.reply.Transfer != nil && run.number < storage.MaxTurn:
		// Said; the session ends and the <Connect action> callback dials.
		turn.Text = sent
		if a, err := rs.assistant(); err == nil {
			turn.Transfer = newTransfer(run.number, a, res.reply.Transfer)
			end = &handoff{Reason: handoffTransfer, Turn: run.number}
		}
		rs.s.metrics.turns.WithLabelValues("ok").Inc()
	default:
		turn.Text = sent
		rs.s.metrics.turns.WithLabelValues("ok").Inc()
	}
	if len(res.reply.ToolCalls) > 0 {
		turn.ToolCalls = res.reply.ToolCalls
	}
	if run.number >= storage.MaxTurn && !turn.EndsCall {
		turn.EndsCall = true
		end = &handoff{Reason: handoffTooLong, Turn: run.number, Farewell: sayTooLong}
	}
	turn.Text = truncateText(turn.Text)
	for stage, ms := range map[string]float64{stageFirstToken: lat.FirstTokenMS, stageFirstText: lat.FirstTextMS, stageLastText: lat.LastTextMS} {
		if ms >= 0 {
			rs.s.relay.metrics.observe(stage, time.Duration(ms*float64(time.Millisecond)))
		}
	}
	// Stored even when the socket is gone: a reconnection (or the summary)
	// reads it from the store.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rs.ctx), rs.s.cfg.RequestTimeout)
	stored, _, err := rs.s.writes.AddTurn(ctx, turn)
	cancel()
	if err != nil {
		rs.log.Error("relay: cannot store the assistant's turn", "turn", run.number, "err", err.Error())
	} else {
		rs.remember(stored)
	}
	if end != nil {
		rs.sendEnd(*end)
	}
}

// interruptStored records an interruption of a reply that was already
// complete (Twilio was still speaking it) on the latest assistant turn.
func (rs *relaySession) interruptStored(heard string) {
	n := -1
	for _, t := range rs.call.Turns {
		if t.Role == storage.RoleAssistant && t.Number > n {
			n = t.Number
		}
	}
	if n < 0 {
		return
	}
	if t, ok := storedTurn(rs.call.Turns, n, storage.RoleAssistant); ok && (t.Interrupted || transferredBack(rs.call.Turns, n)) {
		// Already recorded; or the turn transferred the caller, who came
		// back: what they talked over is this session's welcome (that
		// the transfer failed), which is no turn's text.
		return
	}
	ti, ok := rs.s.calls.(storage.TurnInterrupter)
	if !ok {
		rs.log.Warn("relay: the call store cannot record an interruption", "turn", n)
		return
	}
	ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.RequestTimeout)
	defer cancel()
	t, err := ti.InterruptTurn(ctx, rs.callSID, n, heard)
	if err != nil {
		rs.log.Warn("relay: cannot record the interruption", "turn", n, "err", err.Error())
		return
	}
	rs.remember(t)
	rs.s.metrics.turns.WithLabelValues("interrupted").Inc()
}

// sinceMS is the milliseconds from a to b (microsecond precision), or -1
// when b never happened.
func sinceMS(a, b time.Time) float64 {
	if b.IsZero() {
		return -1
	}
	return float64(b.Sub(a).Microseconds()) / 1000
}

// streamerOf streams with ai when it can, else says its whole reply at once.
func streamerOf(ai assistant.Assistant) assistant.Streamer {
	if st, ok := ai.(assistant.Streamer); ok {
		return st
	}
	return wholeReply{ai}
}

// wholeReply streams an Assistant that cannot stream as one piece.
type wholeReply struct{ assistant.Assistant }

func (w wholeReply) Stream(ctx context.Context, c assistant.Conversation, sink assistant.Sink) (assistant.StreamReply, error) {
	r, err := w.Reply(ctx, c)
	if err != nil {
		return assistant.StreamReply{}, err
	}
	if sink.FirstToken != nil {
		sink.FirstToken(time.Now())
	}
	if r.EndCall {
		return assistant.StreamReply{EndCall: true, Farewell: r.Text}, nil
	}
	if err := sink.Text(r.Text); err != nil {
		return assistant.StreamReply{}, err
	}
	return assistant.StreamReply{Text: r.Text}, nil
}

// storedTurn finds turn (n, role) among turns.
func storedTurn(turns []storage.Turn, n int, role storage.Role) (storage.Turn, bool) {
	for _, t := range turns {
		if t.Number == n && t.Role == role {
			return t, true
		}
	}
	return storage.Turn{}, false
}
