package handlers

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// callListItem is a call in a listing: the call without its parts.
type callListItem struct {
	SID       string               `json:"sid"`
	Status    storage.CallStatus   `json:"status"`
	From      string               `json:"from"`
	To        string               `json:"to"`
	Direction string               `json:"direction"`
	CreatedAt time.Time            `json:"created_at"`
	EndedAt   *time.Time           `json:"ended_at"`
	Duration  int                  `json:"duration"`
	Assistant storage.AssistantRef `json:"assistant"`
	Analysis  *storage.Analysis    `json:"analysis"`
}

type callList struct {
	Calls      []callListItem `json:"calls"`
	NextCursor string         `json:"next_cursor"`
}

// listCalls answers GET /api/v1/calls: newest first, filtered by status,
// from, to, number (from or to: a full E.164 number or its last 4 digits
// or more), assistant, a since/until time range (RFC 3339) and any number
// (up to storage.MaxAnalysisMatches) of analysis.<field>=<value> exact
// matches, paginated by cursor.
func (s *Server) listCalls(c *fiber.Ctx) error {
	var f storage.CallFilter
	var err error
	if v := c.Query("status"); v != "" {
		if f.Status, err = storage.ParseCallStatus(v); err != nil {
			return err
		}
	}
	f.From, f.To = phoneQuery(c.Query("from")), phoneQuery(c.Query("to"))
	if len(f.From) > 64 || len(f.To) > 64 {
		return storage.Errorf(storage.ErrInvalid, "from and to are at most 64 characters")
	}
	if v := c.Query("number"); v != "" {
		if f.Number, err = storage.NormalizeNumber(phoneQuery(v)); err != nil {
			return err
		}
	}
	if f.Since, err = queryTime(c, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(c, "until"); err != nil {
		return err
	}
	if f.Limit, err = queryInt(c, "limit", storage.DefaultPageSize, 1, storage.MaxPageSize); err != nil {
		return err
	}
	f.Cursor = c.Query("cursor")
	f.Assistant = strings.Clone(c.Query("assistant"))
	if f.Analysis, err = analysisFilters(c); err != nil {
		return err
	}

	ctx, cancel := s.storeContext(c)
	defer cancel()
	page, err := s.calls.ListCalls(ctx, f)
	if err != nil {
		return err
	}
	out := callList{Calls: make([]callListItem, 0, len(page.Calls)), NextCursor: page.NextCursor}
	for _, call := range page.Calls {
		out.Calls = append(out.Calls, callListItem{
			SID: call.SID, Status: call.Status, From: call.From, To: call.To, Direction: call.Direction,
			CreatedAt: call.CreatedAt, EndedAt: call.EndedAt, Duration: call.Duration,
			Assistant: call.Assistant, Analysis: call.Analysis,
		})
	}
	return c.JSON(out)
}

// analysisFilters reads the analysis.<field>=<value> query parameters.
// The strings are copied: the request buffer they point into is reused.
func analysisFilters(c *fiber.Ctx) ([]storage.AnalysisMatch, error) {
	var out []storage.AnalysisMatch
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err != nil || !bytes.HasPrefix(k, []byte("analysis.")) {
			return
		}
		if len(out) == storage.MaxAnalysisMatches {
			err = storage.Errorf(storage.ErrInvalid, "at most %d analysis filters", storage.MaxAnalysisMatches)
			return
		}
		var m storage.AnalysisMatch
		if m, err = storage.ParseAnalysisMatch(string(k), string(v)); err == nil {
			out = append(out, m)
		}
	})
	return out, err
}

// phoneQuery reads an E.164 filter. A "+" typed unencoded in a query string
// arrives as a space; "?from=+14155550100" means the number, not " 1415…".
func phoneQuery(v string) string {
	if strings.HasPrefix(v, " ") {
		v = "+" + strings.TrimLeft(v, " ")
	}
	return strings.TrimSpace(v)
}

func queryTime(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, storage.Errorf(storage.ErrInvalid, "query parameter %s must be an RFC 3339 time", name)
	}
	return t.UTC(), nil
}

func callSIDParam(c *fiber.Ctx) (string, error) {
	sid := c.Params("sid")
	return strings.Clone(sid), storage.CheckSID("call sid", sid, "CA")
}

// getCall answers GET /api/v1/calls/{sid}: the call with its participants,
// status timeline, turns, summary and recordings.
func (s *Server) getCall(c *fiber.Ctx) error {
	sid, err := callSIDParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	call, err := s.calls.GetCall(ctx, sid)
	if err != nil {
		return err
	}
	// Empty lists are [], never null, so clients need no special case.
	if call.Timeline == nil {
		call.Timeline = []storage.StatusEvent{}
	}
	if call.Turns == nil {
		call.Turns = []storage.Turn{}
	}
	if call.Recordings == nil {
		call.Recordings = []storage.Recording{}
	}
	if call.Transfers == nil {
		call.Transfers = []storage.Transfer{}
	}
	return c.JSON(call)
}

// deleteCall answers DELETE /api/v1/calls/{sid}. Only a call that has
// ended can be deleted (409 naming its status otherwise). The store
// deletes the call's rows, keeps a tombstone, so Twilio's late callbacks
// cannot bring the call back, and records in the same transaction the
// purge of its audio: every object each recording may have, whatever the
// store says of it (a pending recording may have an object already, its
// upload finished just before a worker crashed), and the media at Twilio.
// The workers carry the purge out, retrying until the blob store and
// Twilio let them, so the request neither waits for them nor fails when
// they are down, and a process that dies after the commit loses nothing.
// What an archive upload still running writes after the call is gone its
// worker deletes itself; should that worker die first, the purge, which
// waits for the archive's lease to end, deletes it.
//
// With a replica bucket the store records, with the deletion, the erasure
// of the same keys there; the workers do that too.
func (s *Server) deleteCall(c *fiber.Ctx) error {
	sid, err := callSIDParam(c)
	if err != nil {
		return err
	}
	if err := s.removeCall(c, sid); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// removeCall deletes an ended call and records the deletion of its audio
// (see deleteCall): the API's DELETE and the console's delete both come
// here.
func (s *Server) removeCall(c *fiber.Ctx, sid string) error {
	ctx, cancel := s.storeContext(c)
	recs, err := s.calls.DeleteCall(ctx, sid, storage.DeleteOptions{ReplicaBucket: s.cfg.ReplicaBucket})
	cancel()
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		// The purge (and any replica erasure) is due now: a worker of this
		// process need not wait for its next poll.
		s.workReady()
	}
	s.logger(c).Info("call deleted; its audio is deleted by the workers", "call_sid", sid, "recordings", len(recs))
	return nil
}
