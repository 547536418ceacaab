package service

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/fixture"
	"switchboard/storage"
)

// captureHook returns the handlers' capture hook when CAPTURE_DIR is set,
// else nil. Every /twilio webhook — refused ones included — is written as a
// fixture to CAPTURE_DIR/<UTC date>/<CallSid>/ (or …/unknown/ when the
// request names no valid CallSid), numbered per folder, ready for
// cmd/replay. Writing happens off the request path; a capture directory
// that cannot be created leaves capture off with an error in the log, since
// capture is a diagnostic aid and must never keep calls from being answered.
func (m *Service) captureHook() func(*fiber.Ctx) {
	if m.Config.CaptureDir == "" {
		return nil
	}
	c, err := fixture.NewCapturer(fixture.CaptureOptions{
		Dir:    m.Config.CaptureDir,
		Folder: captureFolder(time.Now),
		Redact: m.Config.CaptureRedact,
		Log:    m.Log,
	})
	if err != nil {
		m.Log.Error("CAPTURE_DIR: webhooks are not captured", "err", err)
		return nil
	}
	if !m.Config.CaptureRedact {
		m.Warnings = append(m.Warnings, "CAPTURE_DIR is set without CAPTURE_REDACT=true: captured webhooks keep callers' phone numbers")
	}
	m.closers = append(m.closers, c.Close)
	return c.Hook
}

// captureFolder files a webhook under the day it arrived and its call, so
// one folder replays one call in order. The CallSid is validated before it
// becomes a path.
func captureFolder(now func() time.Time) func(fixture.Request) string {
	return func(r fixture.Request) string {
		sid := r.Form().Get("CallSid")
		if !storage.ValidSID(sid, "CA") {
			sid = "unknown"
		}
		return now().UTC().Format("2006-01-02") + "/" + sid
	}
}
