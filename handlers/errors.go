package handlers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"switchboard/storage"
)

// errorBody is the one shape of every error the service answers:
//
//	{"error": {"code": "not_found", "message": "call CA… not found"}}
//
// code is stable for clients to branch on; message is for people. The
// request id is in the X-Request-Id header, not the body, so the same
// request always gets the same body.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fields names each bad field of an invalid input.
	Fields []storage.FieldError `json:"fields,omitempty"`
}

// kindStatus maps each error kind to its HTTP status and code.
var kindStatus = []struct {
	kind   error
	status int
	code   string
}{
	{storage.ErrNotFound, http.StatusNotFound, "not_found"},
	{storage.ErrInvalid, http.StatusBadRequest, "invalid"},
	{storage.ErrConflict, http.StatusConflict, "conflict"},
	{storage.ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{storage.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	// Webhooks acknowledge writes about deleted calls themselves; this is
	// for any other request that meets one.
	{storage.ErrGone, http.StatusGone, "gone"},
	// An If-Match that names a version the resource has moved on from.
	{storage.ErrStale, http.StatusPreconditionFailed, "precondition_failed"},
}

// httpError is an error that carries its own status, for conditions that
// are not storage kinds (a forbidden signature, an unsupported media type).
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func newHTTPError(status int, code, msg string) error {
	return &httpError{status: status, code: code, msg: msg}
}

// errorHandler is the only place errors become responses. Errors of a known
// kind are answered with their client-safe message; anything else is logged
// with its detail and answered with a generic message.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, code, msg := http.StatusInternalServerError, "internal", "internal error"
	var he *httpError
	var fe *fiber.Error
	switch {
	case errors.As(err, &he):
		status, code, msg = he.status, he.code, he.msg
	case errors.As(err, &fe):
		status, msg = fe.Code, fe.Message
		code = codeForStatus(fe.Code)
	default:
		if kind := storage.KindOf(err); kind != nil {
			for _, k := range kindStatus {
				if k.kind == kind {
					status, code, msg = k.status, k.code, storage.Message(err)
				}
			}
		}
	}
	log := s.logger(c)
	switch {
	case status >= 500:
		log.Error("request failed", "status", status, "err", err.Error())
	case status != http.StatusNotFound || c.Path() != "/favicon.ico":
		log.Warn("request refused", "status", status, "err", err.Error())
	}
	if status == http.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	if isConsole, _ := c.Locals(localConsole).(bool); isConsole {
		return s.consoleProblem(c, status, msg)
	}
	if status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="switchboard"`)
	}
	detail := errorDetail{Code: code, Message: msg}
	if status == http.StatusBadRequest {
		detail.Fields = storage.FieldsOf(err)
	}
	return c.Status(status).JSON(errorBody{Error: detail})
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusRequestTimeout:
		return "timeout"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "invalid"
}
