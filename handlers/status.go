package handlers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// status applies a call-status callback. Callbacks arrive repeated and out of
// order; the store only moves a call forward, so a late "ringing" or a second
// terminal status changes nothing. A terminal status enqueues the summary.
func (s *Server) status(c *fiber.Ctx) error {
	f := formOf(c)
	nc, err := s.callFromForm(f)
	if err != nil {
		return err
	}
	if f.Get("CallStatus") == "" {
		return storage.Errorf(storage.ErrInvalid, "missing parameter CallStatus")
	}
	ev := storage.StatusEvent{Status: nc.Status, Sequence: -1, At: nc.At}
	if seq, ok, err := optionalInt(f, "SequenceNumber", 0, 1<<30); err != nil {
		return err
	} else if ok {
		ev.Sequence = seq
	}
	if d, _, err := optionalInt(f, "CallDuration", 0, 1<<30); err != nil {
		return err
	} else {
		ev.Duration = d
	}
	if t, ok, err := twilioTime(f, "Timestamp"); err != nil {
		return err
	} else if ok {
		ev.At = t
	}

	// One store call; a call that never reached the incoming-call webhook
	// (busy, no-answer, or a lost request) still gets its record.
	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, err := s.writes.ApplyStatus(ctx, nc, ev)
	if errors.Is(err, storage.ErrGone) {
		return s.ackDeletedCallback(c)
	}
	if err != nil {
		return err
	}
	s.logger(c).Info("call status", "reported", ev.Status, "status", call.Status, "sequence", ev.Sequence)
	if call.Status.Terminal() {
		s.workReady()
	}
	return c.SendStatus(http.StatusNoContent)
}
