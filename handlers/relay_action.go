package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// relayAction is the <Connect action> callback: Twilio posts it when the
// ConversationRelay session ends and runs the TwiML it answers. After an
// end message (SessionStatus=ended) the call is live and hears the
// farewell the session handed off, then hangs up; after a failed session
// it hears an apology; after the caller hung up (completed) nothing is
// said. It keeps no state: any instance can answer it.
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
			log.Warn("relay session ended without handoff data; hanging up")
			return sendTwiML(c, renderTwiML(twimlHangup{}))
		}
		log.Info("relay session ended", "reason", truncateLog(h.Reason, 32), "turn", h.Turn)
		if h.Reason == handoffGone {
			return sendTwiML(c, renderTwiML(twimlHangup{}))
		}
		farewell := strings.TrimSpace(truncateLog(h.Farewell, 1000))
		if farewell == "" {
			return sendTwiML(c, renderTwiML(twimlHangup{}))
		}
		return sendTwiML(c, s.goodbye(s.handoffSpeech(h), farewell))
	case "failed":
		log.Error("relay session failed", "error_code", truncateLog(f.Get("ErrorCode"), 16),
			"error", truncateLog(f.Get("ErrorMessage"), 200))
		return sendTwiML(c, s.goodbye(s.defaultSpeech(), sayFallback))
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
