package handlers

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// Webhooks about a deleted call. Twilio keeps calling after a call was
// deleted through the API: the recording-status callback arrives once the
// recording is processed, status callbacks arrive late and repeated, and a
// gather or incoming-call request may be retried. The store refuses every
// such write with storage.ErrGone and keeps nothing, so the call stays
// deleted; the answers below acknowledge the request, because anything but
// a 2xx brings Twilio back (retries) or in front of the caller (errors):
//
//   - Status and recording callbacks get 204, as any callback does: Twilio
//     reads nothing from the answer, and an error status would only be
//     logged in its debugger and, with retry overrides, repeated.
//   - Incoming-call and gather requests get 200 with
//     <Response><Hangup/></Response>. Their answer is TwiML for a call Twilio
//     may still be running, and an error would make the caller hear "an
//     application error has occurred". Since the call's record is gone and
//     nothing said would be kept, the call is ended rather than carried on.

// ackDeletedCallback answers a status or recording callback about a deleted
// call.
func (s *Server) ackDeletedCallback(c *fiber.Ctx) error {
	s.logger(c).Info("callback about a deleted call acknowledged; nothing stored")
	return c.SendStatus(http.StatusNoContent)
}

// hangUpDeletedCall answers an incoming-call or gather request about a
// deleted call.
func (s *Server) hangUpDeletedCall(c *fiber.Ctx) error {
	s.logger(c).Info("webhook about a deleted call; hanging up, nothing stored")
	return sendTwiML(c, renderTwiML(twimlHangup{}))
}
