package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/console"
	"switchboard/storage"
)

// consolePageSize is how many calls a page of the call list shows.
const consolePageSize = 50

// liveWindow is how far back the live view looks: Twilio ends a call
// after four hours by default and 24 at most, so an older call still
// "in progress" lost its last status callback.
const liveWindow = 24 * time.Hour

// consoleCalls shows the call list, newest first, filtered by the form
// and paged by cursor. A filter that cannot be used is shown again with a
// message next to the field, and no calls.
func (s *Server) consoleCalls(c *fiber.Ctx) error {
	f, form := console.ParseFilter(queryValues(c))
	choices, err := s.assistantChoices(c)
	if err != nil {
		return err
	}
	body := console.Calls{Filter: form, Statuses: console.Statuses, Assistants: choices}
	status := http.StatusOK
	if len(form.Errors) == 0 {
		f.Limit = consolePageSize
		ctx, cancel := s.storeContext(c)
		page, err := s.calls.ListCalls(ctx, f)
		cancel()
		switch {
		case errors.Is(err, storage.ErrInvalid):
			form.Errors["cursor"] = storage.Message(err)
		case err != nil:
			return err
		}
		list := s.console.pages.Path("/console/calls")
		body.Rows = console.Rows(page.Calls)
		if page.NextCursor != "" {
			q := form.Query()
			q.Set("cursor", page.NextCursor)
			body.Next = list + "?" + q.Encode()
		}
		if f.Cursor != "" {
			body.First = withQuery(list, form.Query())
		}
	}
	if len(form.Errors) > 0 {
		status = http.StatusBadRequest
	}
	page := console.Page{Title: "Calls", Nav: "calls", Body: body}
	if c.Query("deleted") != "" {
		page.Notice = "The call was deleted."
	}
	return s.renderPage(c, status, "calls", page)
}

// consoleCall shows one call: what happened, what was said, the summary
// and the recording.
func (s *Server) consoleCall(c *fiber.Ctx) error {
	call, err := s.consoleGetCall(c)
	if err != nil {
		return err
	}
	audio := func(rsid string) string {
		return s.console.pages.Path("/console/calls/" + call.SID + "/recordings/" + rsid + "/audio")
	}
	view := console.NewCall(call, audio)
	if call.Analysis != nil {
		view.Analysis = console.AnalysisFields(call.Analysis.Fields, s.console.pages.Path("/console/calls"))
	}
	return s.renderPage(c, http.StatusOK, "call", console.Page{
		Title: "Call from " + call.From, Nav: "calls", Body: view,
	})
}

func (s *Server) consoleGetCall(c *fiber.Ctx) (storage.Call, error) {
	sid, err := callSIDParam(c)
	if err != nil {
		return storage.Call{}, err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	return s.calls.GetCall(ctx, sid)
}

// consoleDeleteForm asks to confirm a deletion; the form it shows posts
// to consoleDelete.
func (s *Server) consoleDeleteForm(c *fiber.Ctx) error {
	call, err := s.consoleGetCall(c)
	if err != nil {
		return err
	}
	if err := storage.CheckDeletable(call.SID, call.Status); err != nil {
		return err
	}
	return s.renderPage(c, http.StatusOK, "delete", console.Page{
		Title: "Delete the call", Nav: "calls", Body: console.Delete{Row: console.Rows([]storage.Call{call})[0]},
	})
}

// consoleDelete deletes the call as the API's DELETE does (the call, a
// tombstone and the recorded deletion of its audio, which the workers
// carry out) and goes back to the list.
func (s *Server) consoleDelete(c *fiber.Ctx) error {
	sid, err := callSIDParam(c)
	if err != nil {
		return err
	}
	if err := s.removeCall(c, sid); err != nil {
		return err
	}
	return c.Redirect(s.console.pages.Path("/console/calls")+"?deleted=1", http.StatusSeeOther)
}

// consoleAudio plays a recording in the browser, which cannot send the
// API's bearer token from an <audio> element: the session authorises it,
// and the audio is streamed (with ranges, for seeking) or the browser is
// redirected to a short-lived presigned link.
func (s *Server) consoleAudio(c *fiber.Ctx) error {
	return s.serveRecording(c)
}

// consoleLive shows the calls in progress; console.js refreshes the list
// from consoleLiveRows.
func (s *Server) consoleLive(c *fiber.Ctx) error {
	live, err := s.liveCalls(c)
	if err != nil {
		return err
	}
	return s.renderPage(c, http.StatusOK, "live", console.Page{Title: "Live calls", Nav: "live", Script: true, Body: live})
}

// consoleLiveRows is the live view's list alone, for console.js.
func (s *Server) consoleLiveRows(c *fiber.Ctx) error {
	live, err := s.liveCalls(c)
	if err != nil {
		return err
	}
	body, err := s.console.pages.Render("live", "rows", console.Page{Body: live})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(body)
}

func (s *Server) liveCalls(c *fiber.Ctx) (console.Live, error) {
	now := time.Now()
	ctx, cancel := s.storeContext(c)
	defer cancel()
	page, err := s.calls.ListCalls(ctx, storage.CallFilter{Active: true, Since: now.Add(-liveWindow), Limit: storage.MaxPageSize})
	if err != nil {
		return console.Live{}, err
	}
	return console.Live{Rows: console.Rows(page.Calls), At: now}, nil
}

// queryValues copies the request's query parameters out of fasthttp's
// buffers.
func queryValues(c *fiber.Ctx) url.Values {
	q := url.Values{}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		q.Add(string(k), string(v))
	})
	return q
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
