package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

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
	// One store call, which creates the call if no other webhook of it
	// arrived (it was in progress).
	stored, created, err := s.writes.AddRecording(ctx, rec)
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

// recordingAudio answers GET /api/v1/calls/{sid}/recordings/{rsid}/audio:
// a 302 to a short-lived presigned link when the blob store can make one
// (S3), else the audio itself, with Range support.
func (s *Server) recordingAudio(c *fiber.Ctx) error {
	return s.serveRecording(c)
}

// serveRecording answers with the audio of the recording the route's sid
// and rsid name: the API's audio route and the console's share it.
func (s *Server) serveRecording(c *fiber.Ctx) error {
	sid, err := callSIDParam(c)
	if err != nil {
		return err
	}
	rsid := strings.Clone(c.Params("rsid"))
	if err := storage.CheckSID("recording sid", rsid, "RE"); err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	rec, err := s.calls.GetRecording(ctx, sid, rsid)
	if err != nil {
		return err
	}
	if rec.State != storage.RecordingStored {
		return storage.Errorf(storage.ErrConflict, "recording %s is %s, not stored", rsid, rec.State)
	}
	if p, ok := s.blobs.(storage.Presigner); ok {
		u, err := p.PresignGet(ctx, rec.BlobKey, s.cfg.RecordingURLTTL)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "private, no-store")
		return c.Redirect(u, http.StatusFound)
	}
	info, err := s.blobs.Stat(ctx, rec.BlobKey)
	if err != nil {
		return err
	}
	offset, length, partial, err := parseRange(c.Get(fiber.HeaderRange), info.Size)
	if err != nil {
		c.Set(fiber.HeaderContentRange, "bytes */"+strconv.FormatInt(info.Size, 10))
		return newHTTPError(http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", err.Error())
	}
	// The body is streamed after this handler returns: it must not depend
	// on the request's store deadline.
	body, info, err := s.blobs.Open(c.UserContext(), rec.BlobKey, offset, length)
	if err != nil {
		return err
	}
	ct := info.ContentType
	if ct == "" {
		ct = rec.ContentType
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	if rec.SHA256 != "" {
		c.Set(fiber.HeaderETag, `"`+rec.SHA256+`"`)
	}
	if partial {
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, info.Size))
		c.Status(http.StatusPartialContent)
	} else {
		length = info.Size
	}
	return c.SendStream(body, int(length))
}

var errRange = errors.New("unsatisfiable range")

// parseRange reads a single "bytes=" range of an object of size bytes.
// No header (or one this server does not serve partially, such as several
// ranges) means the whole object.
func parseRange(h string, size int64) (offset, length int64, partial bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false, errRange
	}
	switch {
	case first == "": // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false, errRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		start, err := strconv.ParseInt(first, 10, 64)
		if err != nil || start < 0 || start >= size {
			return 0, 0, false, errRange
		}
		end := size - 1
		if last != "" {
			e, err := strconv.ParseInt(last, 10, 64)
			if err != nil || e < start {
				return 0, 0, false, errRange
			}
			end = min(e, size-1)
		}
		return start, end - start + 1, true, nil
	}
}
