package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// relayAction is the <Connect action> callback: Twilio posts it when the
// ConversationRelay session ends and runs the TwiML it answers. After an
// end message (SessionStatus=ended) the call is live and hears the
// farewell the session handed off, then hangs up, or is transferred.
// A session that failed (Twilio could not reach or keep the socket, a
// speech provider failed, Twilio kept reporting errors), or ended without
// saying why, does not end the call: it continues with <Gather>, turn by
// turn on webhooks, with its whole history (relayContinue). After the
// caller hung up (completed) nothing is said. It keeps no state: any
// instance can answer it.
func (s *Server) relayAction(c *fiber.Ctx) error {
	f := formOf(c)
	if _, err := s.callFromForm(f); err != nil {
		return err
	}
	status := f.Get("SessionStatus")
	log := s.logger(c).With("session_status", truncateLog(status, 32))
	switch status {
	case "ended":
		h, ok := parseHandoff(f.Get("HandoffData"))
		if !ok {
			log.Warn("relay session ended without handoff data; continuing the call with <Gather>")
			return s.relayContinue(c)
		}
		log.Info("relay session ended", "reason", truncateLog(h.Reason, 32), "turn", h.Turn)
		if h.Reason == handoffFallback {
			return s.relayContinue(c)
		}
		if h.Reason == handoffGone {
			return sendTwiML(c, renderTwiML(twimlHangup{}))
		}
		if h.Reason == handoffTransfer {
			return s.relayTransfer(c, h)
		}
		farewell := strings.TrimSpace(truncateLog(h.Farewell, 1000))
		if farewell == "" {
			return sendTwiML(c, renderTwiML(twimlHangup{}))
		}
		return sendTwiML(c, s.goodbye(s.handoffSpeech(h), farewell))
	case "failed":
		log.Error("relay session failed; continuing the call with <Gather>", "error_code", truncateLog(f.Get("ErrorCode"), 16),
			"error", truncateLog(f.Get("ErrorMessage"), 200))
		return s.relayContinue(c)
	default:
		// completed: the caller hung up; anything else is unknown.
		log.Info("relay session over")
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}
}

// handoffSpeech is the speech of the call's assistant as the session
// handed it off, when it is one <Say> takes; the deployment's otherwise.
func (s *Server) handoffSpeech(h handoff) speech {
	if storage.ValidVoice(h.Voice) && len(speechFields(h.Language, h.Voice)) == 0 {
		return speech{language: h.Language, voice: h.Voice}
	}
	return s.defaultSpeech()
}

// relayTransfer dials the transfer the session's turn stored, read with
// the call (the action callback is a webhook of its own, one round trip).
func (s *Server) relayTransfer(c *fiber.Ctx, h handoff) error {
	f := formOf(c)
	sid := strings.Clone(f.Get("CallSid"))
	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, err := s.calls.GetCall(ctx, sid)
	if err != nil {
		return err
	}
	t, ok := storedTurn(call.Turns, h.Turn, storage.RoleAssistant)
	if !ok || t.Transfer == nil {
		s.logger(c).Warn("relay session handed off a transfer that is not stored; hanging up", "turn", h.Turn)
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}
	a, err := s.versions.Get(ctx, t.Transfer.Assistant)
	if err != nil {
		return err
	}
	// The session said the turn's text already.
	t.Text = ""
	return sendTwiML(c, renderTwiML(s.dialVerbs(speechOf(a), t)...))
}

// relayContinue carries a call whose streamed session failed on with
// <Gather>: the caller turn the session left unanswered is answered now
// (as the <Gather> mode answers a turn, stored once), otherwise the caller
// is told the line is back and asked to go on; the next turns arrive on
// /twilio/gather, numbered after the stored ones. A call that already
// ended, or whose last reply ended it, is hung up; a store that cannot be
// read gives the apology.
func (s *Server) relayContinue(c *fiber.Ctx) error {
	f := formOf(c)
	sid := strings.Clone(f.Get("CallSid"))
	log := s.logger(c)
	if st := storage.CallStatus(f.Get("CallStatus")); st.Terminal() {
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, err := s.calls.GetCall(ctx, sid)
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		log.Error("relay fallback: cannot read the call", "err", err.Error())
		return sendTwiML(c, s.goodbye(s.defaultSpeech(), sayFallback))
	}
	if call.Status.Terminal() {
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}
	a, err := s.versions.Get(ctx, call.Assistant)
	if err != nil {
		log.Error("relay fallback: cannot read the call's assistant version", "err", err.Error())
		return sendTwiML(c, s.goodbye(s.defaultSpeech(), sayFallback))
	}
	sp := speechOf(a)
	s.relay.metrics.takeovers.WithLabelValues("fallback").Inc()
	if n, ok := pendingTurn(call); ok {
		turns := call.Turns
		v, err, _ := s.turns.Do(sid+"/"+itoa(n), func() (any, error) {
			return s.answer(c.UserContext(), call, turns, n, a)
		})
		if err != nil {
			log.Error("relay fallback: cannot answer the unanswered turn", "turn", n, "err", err.Error())
			return sendTwiML(c, s.goodbye(sp, sayFallback))
		}
		log.Info("relay fallback: answered the unanswered turn; continuing with <Gather>", "turn", n)
		return sendTwiML(c, s.render(sp, v.(storage.Turn)))
	}
	next := 1
	for _, t := range call.Turns {
		if t.Role == storage.RoleAssistant && t.EndsCall {
			return sendTwiML(c, renderTwiML(twimlHangup{}))
		}
		next = max(next, t.Number+1)
	}
	if next > storage.MaxTurn {
		return sendTwiML(c, s.goodbye(sp, sayTooLong))
	}
	log.Info("relay fallback: continuing with <Gather>", "turn", next)
	return sendTwiML(c, s.ask(sp, sayResume, next, 0))
}
