package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

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

	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, err := s.calls.ApplyStatus(ctx, nc.SID, ev)
	if errors.Is(err, storage.ErrNotFound) {
		// A call that never reached the incoming-call webhook (busy,
		// no-answer, or a lost request) still gets its record.
		nc.Status = storage.StatusQueued
		if _, err = s.calls.UpsertCall(ctx, nc); err == nil {
			call, err = s.calls.ApplyStatus(ctx, nc.SID, ev)
		}
	}
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

// recording handles a recording-status callback. "completed" records the
// recording as pending (idempotent on RecordingSid) and enqueues its
// archiving; "absent" and "failed" record why there is no audio.
func (s *Server) recording(c *fiber.Ctx) error {
	f := formOf(c)
	accountSID, err := requireSID(f, "AccountSid", "AC")
	if err != nil {
		return err
	}
	callSID, err := requireSID(f, "CallSid", "CA")
	if err != nil {
		return err
	}
	s.setCallLogger(c, callSID)
	recSID, err := requireSID(f, "RecordingSid", "RE")
	if err != nil {
		return err
	}
	rec := storage.Recording{SID: recSID, CallSID: callSID, AccountSID: accountSID, Channels: 1}
	if rec.Duration, _, err = optionalInt(f, "RecordingDuration", 0, 1<<30); err != nil {
		return err
	}
	if ch, ok, err := optionalInt(f, "RecordingChannels", 1, 2); err != nil {
		return err
	} else if ok {
		rec.Channels = ch
	}
	if t, ok, err := twilioTime(f, "RecordingStartTime"); err != nil {
		return err
	} else if ok {
		rec.StartedAt = &t
	}
	switch st := f.Get("RecordingStatus"); st {
	case "completed":
		if rec.SourceURL, err = s.mediaURL(f.Get("RecordingUrl"), accountSID, recSID); err != nil {
			return err
		}
		rec.State = storage.RecordingPending
	case "absent", "failed":
		rec.State = storage.RecordingFailed
		rec.LastError = "Twilio reported the recording " + st
		if code := f.Get("ErrorCode"); code != "" && len(code) <= 16 {
			rec.LastError += " (error " + code + ")"
		}
	case "in-progress":
		return c.SendStatus(http.StatusNoContent)
	case "":
		return storage.Errorf(storage.ErrInvalid, "missing parameter RecordingStatus")
	default:
		return storage.Errorf(storage.ErrInvalid, "unknown RecordingStatus %q", truncateLog(st, 32))
	}

	ctx, cancel := s.storeContext(c)
	defer cancel()
	stored, created, err := s.calls.AddRecording(ctx, rec)
	if errors.Is(err, storage.ErrNotFound) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		if _, err = s.calls.UpsertCall(ctx, storage.NewCall{SID: callSID, AccountSID: accountSID, Status: storage.StatusInProgress, At: now}); err == nil {
			stored, created, err = s.calls.AddRecording(ctx, rec)
		}
	}
	if errors.Is(err, storage.ErrGone) {
		return s.ackDeletedCallback(c)
	}
	if err != nil {
		return err
	}
	s.logger(c).Info("recording status", "recording_sid", recSID, "state", stored.State, "new", created)
	if created && stored.State == storage.RecordingPending {
		s.workReady()
	}
	return c.SendStatus(http.StatusNoContent)
}

// mediaURL accepts a RecordingUrl only on Twilio's API origin and only for
// this account's recording, so a forged callback cannot make the worker
// fetch (and send the account's credentials to) anywhere else.
func (s *Server) mediaURL(raw, accountSID, recSID string) (string, error) {
	if raw == "" {
		return "", storage.Errorf(storage.ErrInvalid, "missing parameter RecordingUrl")
	}
	u, err := url.Parse(raw)
	base, berr := url.Parse(s.cfg.TwilioAPIBaseURL)
	if err != nil || berr != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", storage.Errorf(storage.ErrInvalid, "RecordingUrl must be on %s", s.cfg.TwilioAPIBaseURL)
	}
	want := strings.TrimRight(base.Path, "/") + "/2010-04-01/Accounts/" + accountSID + "/Recordings/" + recSID
	path := u.Path
	for _, ext := range []string{".wav", ".mp3", ".json"} {
		path = strings.TrimSuffix(path, ext)
	}
	if path != want {
		return "", storage.Errorf(storage.ErrInvalid, "RecordingUrl does not name recording %s of account %s", recSID, accountSID)
	}
	return base.Scheme + "://" + base.Host + want, nil
}
