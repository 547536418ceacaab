package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/runtime/outbound"
	"switchboard/storage"
)

// The event endpoints API: the business registers the URLs that receive
// events (POST), lists and reads them, turns them off and on (PATCH
// enabled), deletes them, and reads each one's delivery log. An endpoint's
// signing secret is shown once, in the answer to its creation.

// endpointBody is an endpoint as the API shows it; Secret only once.
type endpointBody struct {
	storage.Endpoint
	Secret string `json:"secret,omitempty"`
}

// endpointID reads the :id path parameter.
func endpointID(c *fiber.Ctx) (string, error) {
	id := strings.Clone(c.Params("id"))
	if !storage.ValidEndpointID(id) {
		return "", storage.Errorf(storage.ErrNotFound, "endpoint not found")
	}
	return id, nil
}

// listEndpoints answers GET /api/v1/webhooks: every endpoint, oldest first.
func (s *Server) listEndpoints(c *fiber.Ctx) error {
	ctx, cancel := s.storeContext(c)
	defer cancel()
	list, err := s.endpoints.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	if list == nil {
		list = []storage.Endpoint{}
	}
	return c.JSON(fiber.Map{"webhooks": list})
}

// createEndpoint answers POST /api/v1/webhooks: 201 with the endpoint and
// its new signing secret, the only time the secret is shown.
func (s *Server) createEndpoint(c *fiber.Ctx) error {
	if err := requireJSON(c, false); err != nil {
		return err
	}
	n, err := s.decodeEndpoint(c.Body())
	if err != nil {
		return err
	}
	n.Secret = outbound.NewSecret()
	ctx, cancel := s.storeContext(c)
	defer cancel()
	e, err := s.endpoints.CreateEndpoint(ctx, n)
	if err != nil {
		return err
	}
	s.logger(c).Info("event endpoint created", "endpoint", e.ID, "events", len(e.Events))
	c.Location(s.apiPath("/webhooks/" + e.ID))
	return c.Status(http.StatusCreated).JSON(endpointBody{Endpoint: e, Secret: e.Secret})
}

// getEndpoint answers GET /api/v1/webhooks/{id}.
func (s *Server) getEndpoint(c *fiber.Ctx) error {
	id, err := endpointID(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	e, err := s.endpoints.GetEndpoint(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(e)
}

// patchEndpoint answers PATCH /api/v1/webhooks/{id}: {"enabled": bool}.
// Enabling an endpoint the worker disabled clears the reason, and its
// pending deliveries are tried again.
func (s *Server) patchEndpoint(c *fiber.Ctx) error {
	id, err := endpointID(c)
	if err != nil {
		return err
	}
	if err := requireJSON(c, true); err != nil {
		return err
	}
	obj, err := object(c.Body(), "the body")
	if err != nil {
		return err
	}
	var fe []storage.FieldError
	var enabled *bool
	for _, k := range sortedKeys(obj) {
		if k != "enabled" {
			fe = append(fe, storage.FieldError{Field: fieldName(k), Message: "cannot be changed: only enabled can (delete the endpoint and create another)"})
			continue
		}
		var v bool
		if json.Unmarshal(obj[k], &v) != nil || isNull(obj[k]) {
			fe = append(fe, storage.FieldError{Field: k, Message: "must be true or false"})
			continue
		}
		enabled = &v
	}
	if enabled == nil && len(fe) == 0 {
		fe = append(fe, storage.FieldError{Field: "enabled", Message: "is required"})
	}
	if err := storage.InvalidFields("endpoint change", fe); err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	e, err := s.endpoints.SetEndpointEnabled(ctx, id, *enabled)
	if err != nil {
		return err
	}
	s.logger(c).Info("event endpoint changed", "endpoint", e.ID, "enabled", e.Enabled)
	return c.JSON(e)
}

// deleteEndpoint answers DELETE /api/v1/webhooks/{id}: 204; its deliveries
// go with it.
func (s *Server) deleteEndpoint(c *fiber.Ctx) error {
	id, err := endpointID(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	if err := s.endpoints.DeleteEndpoint(ctx, id); err != nil {
		return err
	}
	s.logger(c).Info("event endpoint deleted", "endpoint", id)
	return c.SendStatus(http.StatusNoContent)
}

// listDeliveries answers GET /api/v1/webhooks/{id}/deliveries: the
// endpoint's delivery log, newest first, a page at a time.
func (s *Server) listDeliveries(c *fiber.Ctx) error {
	id, err := endpointID(c)
	if err != nil {
		return err
	}
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return storage.InvalidFields("query", []storage.FieldError{{Field: "limit", Message: "must be a whole number from 1 to 200"}})
		}
		limit = n
	}
	cursor := strings.Clone(c.Query("cursor"))
	ctx, cancel := s.storeContext(c)
	defer cancel()
	page, err := s.endpoints.ListDeliveries(ctx, id, limit, cursor)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

// fieldName bounds a client's field name before it is echoed back.
func fieldName(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}

// decodeEndpoint reads {"url": …, "events": [...]}: every bad field named
// at once, unknown fields refused, and the URL one the outbound client may
// request (http or https, no credentials, not link-local or, unless
// OUTBOUND_ALLOW_PRIVATE, a private or loopback address).
func (s *Server) decodeEndpoint(body []byte) (storage.NewEndpoint, error) {
	var n storage.NewEndpoint
	obj, err := object(body, "the body")
	if err != nil {
		return n, err
	}
	var fe []storage.FieldError
	bad := func(field, msg string) { fe = append(fe, storage.FieldError{Field: field, Message: msg}) }
	eventsRead := false
	for _, k := range sortedKeys(obj) {
		raw := obj[k]
		switch k {
		case "url":
			if json.Unmarshal(raw, &n.URL) != nil || isNull(raw) {
				bad(k, "must be a string")
				continue
			}
			if msg := s.checkEndpointURL(n.URL); msg != "" {
				bad(k, msg)
			}
		case "events":
			var names []string
			if json.Unmarshal(raw, &names) != nil || isNull(raw) {
				bad(k, "must be an array of event type names")
				continue
			}
			if len(names) > 2*len(storage.EventTypes) {
				bad(k, "names too many event types")
				continue
			}
			for _, name := range names {
				n.Events = append(n.Events, storage.EventType(name))
			}
			eventsRead = true
		default:
			bad(fieldName(k), "is not a field of an endpoint")
		}
	}
	if _, ok := obj["events"]; !ok {
		bad("events", "is required")
	} else if eventsRead {
		// The store's rules on the event names (known, not repeated).
		fe = append(fe, storage.FieldsOf(storage.NewEndpoint{URL: "-", Events: n.Events, Secret: "-"}.Check())...)
	}
	if _, ok := obj["url"]; !ok {
		bad("url", "is required")
	}
	slices.SortStableFunc(fe, func(a, b storage.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return n, storage.InvalidFields("endpoint", fe)
}

// checkEndpointURL says what is wrong with an endpoint URL, or "".
func (s *Server) checkEndpointURL(raw string) string {
	if raw == "" {
		return "is required"
	}
	if len(raw) > storage.MaxEndpointURL {
		return "must be at most 2048 bytes"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "must be an http or https URL"
	}
	if u.Fragment != "" {
		return "must not have a fragment"
	}
	if s.outbound != nil {
		if err := s.outbound.CheckURL(raw); err != nil {
			var refused *outbound.RefusedError
			if errors.As(err, &refused) {
				return "is refused: " + refused.Reason
			}
			return "is refused"
		}
	}
	return ""
}
