package handlers

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// Fixed phrases. They are part of the TwiML contract pinned by the fixtures.
const (
	sayStillThere    = "Sorry, I didn't catch that. Are you still there?"
	sayNoInput       = "I haven't heard anything, so I'll end the call now. Goodbye!"
	sayApology       = "Sorry, I'm having trouble answering right now. Could you say that again?"
	sayGiveUp        = "I'm sorry, I can't answer right now. Please call again later. Goodbye!"
	sayFallback      = "We're sorry, something went wrong on our side. Please call again in a few minutes. Goodbye!"
	sayTooLong       = "We have reached the end of this call. Thank you for calling. Goodbye!"
	sayResume        = "Sorry, the line dropped for a moment. I'm still here. Please go on."
	recordingEvents  = "completed absent"
	recordingChannel = "dual"
)

func (s *Server) callFromForm(f url.Values) (storage.NewCall, error) {
	var nc storage.NewCall
	var err error
	if nc.SID, err = requireSID(f, "CallSid", "CA"); err != nil {
		return nc, err
	}
	if nc.AccountSID, err = requireSID(f, "AccountSid", "AC"); err != nil {
		return nc, err
	}
	if nc.From, err = phone(f, "From"); err != nil {
		return nc, err
	}
	if nc.To, err = phone(f, "To"); err != nil {
		return nc, err
	}
	if d := f.Get("Direction"); len(d) <= 32 {
		nc.Direction = d
	}
	nc.Status = storage.StatusRinging
	if v := f.Get("CallStatus"); v != "" {
		if nc.Status, err = storage.ParseCallStatus(v); err != nil {
			return nc, err
		}
	}
	nc.At = time.Now().UTC().Truncate(time.Microsecond)
	return nc, nil
}

// voice answers an incoming call: it records the call, the assistant
// version its number routes to, and that version's greeting (turn 0) in
// one store call — idempotent on CallSid, so a retried
// incoming-call webhook says the greeting it said the first time — starts
// a whole-call recording and greets the caller inside a speech <Gather>
// whose answer is turn 1. The greeting is made before the store is asked
// (assistants greet without a model, see assistant.Assistant), so the
// webhook costs one store round trip.
func (s *Server) voice(c *fiber.Ctx) error {
	nc, err := s.callFromForm(formOf(c))
	if err != nil {
		return err
	}
	greeting := s.greet(c.UserContext(), nc)
	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, stored, err := s.writes.StartCall(ctx, nc, greeting)
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	// The version's speech settings: read once per instance and version
	// (assistant.Versions), so the steady state adds no round trip. When
	// it cannot be read the greeting, stored already, is said in the
	// deployment's voice rather than failing the call.
	a, err := s.versions.Get(ctx, call.Assistant)
	if err != nil {
		a = s.versions.Default()
		a.CallMode = storage.CallModeGather
	}
	sp := speechOf(a)
	if err != nil {
		s.logger(c).Warn("assistant version unreadable; greeting in the default voice", "assistant", call.Assistant.ID,
			"version", call.Assistant.Version, "err", err.Error())
	}
	s.logger(c).Info("incoming call", "from", maskPhone(call.From), "to", maskPhone(call.To),
		"assistant", call.Assistant.ID, "version", call.Assistant.Version)
	recording := twimlStart{Recording: twimlRecording{
		Callback: s.cfg.PublicBaseURL + "/twilio/recording",
		Method:   "POST",
		Events:   recordingEvents,
		Channels: recordingChannel,
	}}
	if s.relayFor(c, a) {
		return sendTwiML(c, s.relayTwiML(sp, recording, call.SID, stored.Text))
	}
	return sendTwiML(c, renderTwiML(append([]twimlVerb{recording}, s.prompt(sp, stored.Text, 1, 0)...)...))
}

// greet asks the assistant for the default assistant's greeting of a new
// call, falling back to the configured one (with the error kept on the
// turn) when it fails. A call whose number routes to an assistant is
// greeted with that assistant's greeting instead, chosen by the store in
// the statement that records the call.
func (s *Server) greet(ctx context.Context, nc storage.NewCall) storage.Turn {
	call := storage.Call{SID: nc.SID, From: nc.From, To: nc.To}
	actx, cancel := context.WithTimeout(ctx, s.cfg.TurnTimeout)
	def := s.versions.Default()
	reply, err := s.ai.Greet(actx, conversation(call, nil, &def))
	cancel()
	turn := storage.Turn{Text: reply.Text}
	if err != nil || strings.TrimSpace(reply.Text) == "" {
		turn.Text = s.cfg.Greeting
		if err != nil {
			turn.Error = shortError(err)
		}
	}
	return turn
}

// fallback is Twilio's fallback URL, requested when a webhook failed or timed
// out: the caller hears an apology instead of "an application error has
// occurred". It touches no store, so it works when the database does not.
func (s *Server) fallback(c *fiber.Ctx) error {
	f := formOf(c)
	s.logger(c).Error("twilio fallback: a webhook failed",
		"error_code", truncateLog(f.Get("ErrorCode"), 16), "error_url", truncateLog(f.Get("ErrorUrl"), 200))
	return sendTwiML(c, s.goodbye(s.defaultSpeech(), sayFallback))
}
