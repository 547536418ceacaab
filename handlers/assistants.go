package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/assistant"
	"switchboard/storage"
)

// The assistants API: assistants are versioned data (every change stores
// the next version), written whole with PUT or in part with a JSON merge
// patch (RFC 7396), under optimistic concurrency: every representation
// carries its version as an ETag, and every change (PUT, PATCH, DELETE)
// must name the version it was made against in If-Match — 428 without it,
// 412 when the assistant has moved on. The default assistant (ID
// "default") is the deployment's environment: it can be read, not changed.

// assistantETag is the entity tag of an assistant version.
func assistantETag(version int) string { return `"v` + strconv.Itoa(version) + `"` }

func (s *Server) sendAssistant(c *fiber.Ctx, status int, a storage.Assistant) error {
	c.Set(fiber.HeaderETag, assistantETag(a.Version))
	return c.Status(status).JSON(a)
}

// assistantID reads the :id path parameter.
func assistantID(c *fiber.Ctx) (string, error) {
	id := strings.Clone(c.Params("id"))
	if !storage.ValidAssistantID(id) {
		return "", storage.Errorf(storage.ErrNotFound, "assistant not found")
	}
	return id, nil
}

// defaultIsReadOnly is the answer to a change of the default assistant.
var defaultIsReadOnly = storage.Errorf(storage.ErrConflict,
	"the default assistant is the deployment's environment (ASSISTANT_PROMPT, ASSISTANT_GREETING, CALL_LANGUAGE, …): change it there")

// listAssistants answers GET /api/v1/assistants: every stored assistant's
// current version, oldest first (the default is at /assistants/default).
func (s *Server) listAssistants(c *fiber.Ctx) error {
	ctx, cancel := s.storeContext(c)
	defer cancel()
	list, err := s.assistants.ListAssistants(ctx)
	if err != nil {
		return err
	}
	if list == nil {
		list = []storage.Assistant{}
	}
	return c.JSON(fiber.Map{"assistants": list})
}

// createAssistant answers POST /api/v1/assistants: 201 with the assistant
// at version 1, its Location and ETag.
func (s *Server) createAssistant(c *fiber.Ctx) error {
	if err := requireJSON(c, false); err != nil {
		return err
	}
	set, err := s.decodeAssistant(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.assistants.CreateAssistant(ctx, set)
	if err != nil {
		return err
	}
	s.logger(c).Info("assistant created", "assistant", a.ID)
	c.Location(s.apiPath("/assistants/" + a.ID))
	return s.sendAssistant(c, http.StatusCreated, a)
}

// getAssistant answers GET /api/v1/assistants/{id}: the current version.
func (s *Server) getAssistant(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	if id == storage.DefaultAssistantID {
		return s.sendAssistant(c, http.StatusOK, s.versions.Default())
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.assistants.GetAssistant(ctx, id)
	if err != nil {
		return err
	}
	return s.sendAssistant(c, http.StatusOK, a)
}

// getAssistantVersion answers GET /api/v1/assistants/{id}/versions/{n}:
// any version, also of a deleted assistant, as the calls that ran with it
// name it.
func (s *Server) getAssistantVersion(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(c.Params("version"))
	if err != nil || v < 0 || v > 1<<30 {
		return storage.Errorf(storage.ErrNotFound, "assistant version not found")
	}
	if id == storage.DefaultAssistantID && v != 0 {
		return storage.Errorf(storage.ErrNotFound, "the default assistant has only version 0")
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.versions.Get(ctx, storage.AssistantRef{ID: id, Version: v})
	if err != nil {
		return err
	}
	return s.sendAssistant(c, http.StatusOK, a)
}

// putAssistant answers PUT /api/v1/assistants/{id}: the whole assistant,
// stored as its next version (fields left out take their defaults).
func (s *Server) putAssistant(c *fiber.Ctx) error {
	id, version, err := s.changeTarget(c)
	if err != nil {
		return err
	}
	if err := requireJSON(c, false); err != nil {
		return err
	}
	set, err := s.decodeAssistant(c.Body())
	if err != nil {
		return err
	}
	return s.updateAssistant(c, id, version, set)
}

// patchAssistant answers PATCH /api/v1/assistants/{id}: a JSON merge patch
// (RFC 7396) of the current version, stored as the next version. A field
// set to null takes its default.
func (s *Server) patchAssistant(c *fiber.Ctx) error {
	id, version, err := s.changeTarget(c)
	if err != nil {
		return err
	}
	if err := requireJSON(c, true); err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	cur, err := s.assistants.GetAssistant(ctx, id)
	cancel()
	if err != nil {
		return err
	}
	if cur.Version != version {
		return storage.Errorf(storage.ErrStale, "the assistant is at version %d: read it again and retry with its ETag", cur.Version)
	}
	doc, err := mergePatch(cur.AssistantSettings, c.Body())
	if err != nil {
		return err
	}
	set, err := s.decodeAssistant(doc)
	if err != nil {
		return err
	}
	return s.updateAssistant(c, id, version, set)
}

func (s *Server) updateAssistant(c *fiber.Ctx, id string, version int, set storage.AssistantSettings) error {
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.assistants.UpdateAssistant(ctx, id, version, set)
	if err != nil {
		return err
	}
	s.logger(c).Info("assistant updated", "assistant", a.ID, "version", a.Version)
	return s.sendAssistant(c, http.StatusOK, a)
}

// deleteAssistant answers DELETE /api/v1/assistants/{id}: 204, or 409
// while a number routes to it. Its versions stay readable.
func (s *Server) deleteAssistant(c *fiber.Ctx) error {
	id, version, err := s.changeTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	if err := s.assistants.DeleteAssistant(ctx, id, version); err != nil {
		return err
	}
	s.logger(c).Info("assistant deleted", "assistant", id, "version", version)
	return c.SendStatus(http.StatusNoContent)
}

// changeTarget reads the assistant a change is about and the version
// If-Match names; "*" names whatever version is current.
func (s *Server) changeTarget(c *fiber.Ctx) (string, int, error) {
	id, err := assistantID(c)
	if err != nil {
		return "", 0, err
	}
	if id == storage.DefaultAssistantID {
		return "", 0, defaultIsReadOnly
	}
	h := c.Get(fiber.HeaderIfMatch)
	if strings.TrimSpace(h) == "" {
		return "", 0, newHTTPError(http.StatusPreconditionRequired, "precondition_required",
			"If-Match is required: send the ETag of the version this change is made against")
	}
	if strings.TrimSpace(h) == "*" {
		ctx, cancel := s.storeContext(c)
		defer cancel()
		a, err := s.assistants.GetAssistant(ctx, id)
		if err != nil {
			return "", 0, err
		}
		return id, a.Version, nil
	}
	for tag := range strings.SplitSeq(h, ",") {
		tag = strings.TrimSpace(tag)
		// Strong comparison (RFC 9110 13.1.1): a weak tag never matches.
		v, ok := strings.CutPrefix(tag, `"v`)
		if !ok || !strings.HasSuffix(v, `"`) {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(v, `"`)); err == nil && n >= 1 {
			return id, n, nil
		}
	}
	return "", 0, storage.Errorf(storage.ErrStale, "If-Match names no version of this assistant")
}

// requireJSON refuses a body that is not JSON (or, for PATCH, a JSON merge
// patch) with 415.
func requireJSON(c *fiber.Ctx, patch bool) error {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(c.Get(fiber.HeaderContentType), ";", 2)[0]))
	if ct == fiber.MIMEApplicationJSON || patch && ct == "application/merge-patch+json" {
		return nil
	}
	want := "application/json"
	if patch {
		want = "application/merge-patch+json (or application/json)"
	}
	return newHTTPError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be "+want)
}

// apiPath is an absolute URL path of the API under PUBLIC_BASE_URL's path.
func (s *Server) apiPath(p string) string { return s.basePath + "/api/v1" + p }

// numberParam reads the :number path parameter, "+" written as is or
// percent-encoded.
func numberParam(c *fiber.Ctx) (string, error) {
	n, err := url.PathUnescape(c.Params("number"))
	if err != nil || !storage.ValidNumber(n) {
		return "", storage.Errorf(storage.ErrNotFound, "number not found")
	}
	return strings.Clone(n), nil
}

// listNumbers answers GET /api/v1/numbers.
func (s *Server) listNumbers(c *fiber.Ctx) error {
	ctx, cancel := s.storeContext(c)
	defer cancel()
	list, err := s.numbers.ListNumbers(ctx)
	if err != nil {
		return err
	}
	if list == nil {
		list = []storage.Number{}
	}
	return c.JSON(fiber.Map{"numbers": list})
}

// addNumber answers POST /api/v1/numbers {"number", "assistant_id"}: 201,
// or 409 when the number routes to an assistant already (delete it first).
func (s *Server) addNumber(c *fiber.Ctx) error {
	if err := requireJSON(c, false); err != nil {
		return err
	}
	n, err := decodeNumber(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	n, err = s.numbers.AddNumber(ctx, n)
	if err != nil {
		return err
	}
	s.logger(c).Info("number routed", "number", maskPhone(n.Number), "assistant", n.AssistantID)
	c.Location(s.apiPath("/numbers/" + url.PathEscape(n.Number)))
	return c.Status(http.StatusCreated).JSON(n)
}

// getNumber answers GET /api/v1/numbers/{number}.
func (s *Server) getNumber(c *fiber.Ctx) error {
	number, err := numberParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	n, err := s.numbers.GetNumber(ctx, number)
	if err != nil {
		return err
	}
	return c.JSON(n)
}

// deleteNumber answers DELETE /api/v1/numbers/{number}: its calls go to
// the default assistant from the next one on. A number is never changed in
// place, so no If-Match is needed.
func (s *Server) deleteNumber(c *fiber.Ctx) error {
	number, err := numberParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	if err := s.numbers.DeleteNumber(ctx, number); err != nil {
		return err
	}
	s.logger(c).Info("number deleted", "number", maskPhone(number))
	return c.SendStatus(http.StatusNoContent)
}

// reanalyze answers POST /api/v1/assistants/{id}/reanalyze, optionally
// {"since": RFC 3339}: 202 with the analysis run, which workers carry out;
// its progress is at its Location.
func (s *Server) reanalyze(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	if id == storage.DefaultAssistantID {
		return storage.Errorf(storage.ErrConflict, "the default assistant has no analysis schema")
	}
	var since time.Time
	if len(c.Body()) > 0 {
		if err := requireJSON(c, false); err != nil {
			return err
		}
		if since, err = decodeSince(c.Body()); err != nil {
			return err
		}
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	run, err := s.analyses.StartAnalysisRun(ctx, id, since)
	if err != nil {
		return err
	}
	s.workReady()
	s.logger(c).Info("analysis run started", "assistant", id, "run", run.ID, "calls", run.Total)
	c.Location(s.apiPath("/analysis-runs/" + strconv.FormatInt(run.ID, 10)))
	return c.Status(http.StatusAccepted).JSON(run)
}

// getAnalysisRun answers GET /api/v1/analysis-runs/{run}: its progress.
func (s *Server) getAnalysisRun(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("run"), 10, 64)
	if err != nil || id < 1 {
		return storage.Errorf(storage.ErrNotFound, "analysis run not found")
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	run, err := s.analyses.GetAnalysisRun(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(run)
}

// compileSchema checks an analysis schema for the API, naming the field.
func compileSchema(set storage.AssistantSettings) []storage.FieldError {
	if !storage.HasSchema(set.AnalysisSchema) || !storage.IsJSONObject(set.AnalysisSchema) || len(set.AnalysisSchema) > storage.MaxAnalysisSchema {
		return nil // absent, or refused by storage's checks with their own message
	}
	if _, err := assistant.CompileSchema(set.AnalysisSchema); err != nil {
		return []storage.FieldError{{Field: "analysis_schema", Message: storage.Message(err)}}
	}
	return nil
}
