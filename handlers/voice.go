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

// voice answers an incoming call: it records the call (idempotent on
// CallSid), starts a whole-call recording and greets the caller inside a
// speech <Gather> whose answer is turn 1.
func (s *Server) voice(c *fiber.Ctx) error {
	nc, err := s.callFromForm(formOf(c))
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, err := s.calls.UpsertCall(ctx, nc)
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	s.logger(c).Info("incoming call", "from", maskPhone(call.From), "to", maskPhone(call.To))

	greeting, err := s.greeting(c.UserContext(), call)
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	recording := twimlStart{Recording: twimlRecording{
		Callback: s.cfg.PublicBaseURL + "/twilio/recording",
		Method:   "POST",
		Events:   recordingEvents,
		Channels: recordingChannel,
	}}
	if s.cfg.CallMode == ModeRelay {
		return sendTwiML(c, s.relayTwiML(recording, call.SID, greeting))
	}
	return sendTwiML(c, renderTwiML(append([]any{recording}, s.prompt(greeting, 1, 0)...)...))
}

// greeting returns the stored greeting (turn 0), creating it on the first
// delivery, so a retried incoming-call webhook says the same thing.
func (s *Server) greeting(ctx context.Context, call storage.Call) (string, error) {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	full, err := s.calls.GetCall(sctx, call.SID)
	if err != nil {
		return "", err
	}
	for _, t := range full.Turns {
		if t.Number == 0 && t.Role == storage.RoleAssistant {
			return t.Text, nil
		}
	}
	actx, acancel := context.WithTimeout(ctx, s.cfg.TurnTimeout)
	reply, gerr := s.ai.Greet(actx, conversation(full, s.cfg.Language))
	acancel()
	turn := storage.Turn{CallSID: call.SID, Number: 0, Role: storage.RoleAssistant, Text: reply.Text}
	if gerr != nil || strings.TrimSpace(reply.Text) == "" {
		turn.Text = s.cfg.Greeting
		if gerr != nil {
			turn.Error = shortError(gerr)
		}
	}
	sctx2, cancel2 := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel2()
	stored, _, err := s.calls.AddTurn(sctx2, turn)
	if err != nil {
		return "", err
	}
	return stored.Text, nil
}

// fallback is Twilio's fallback URL, requested when a webhook failed or timed
// out: the caller hears an apology instead of "an application error has
// occurred". It touches no store, so it works when the database does not.
func (s *Server) fallback(c *fiber.Ctx) error {
	f := formOf(c)
	s.logger(c).Error("twilio fallback: a webhook failed",
		"error_code", truncateLog(f.Get("ErrorCode"), 16), "error_url", truncateLog(f.Get("ErrorUrl"), 200))
	return sendTwiML(c, s.goodbye(sayFallback))
}
