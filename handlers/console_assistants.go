package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/console"
	"switchboard/storage"
)

// The console's assistants and numbers: the same stores, rules and
// messages as the API's (an assistant form is checked by the API's own
// decoder), as pages with forms that answer a broken rule next to its
// field.

// consoleAssistants lists the assistants, the default one first.
func (s *Server) consoleAssistants(c *fiber.Ctx) error {
	list, err := s.assistantChoices(c)
	if err != nil {
		return err
	}
	return s.renderPage(c, http.StatusOK, "assistants", console.Page{Title: "Assistants", Nav: "assistants",
		Notice: notice(c), Body: console.Assistants{List: list}})
}

// assistantChoices is the default assistant and every stored one.
func (s *Server) assistantChoices(c *fiber.Ctx) ([]storage.Assistant, error) {
	if s.assistants == nil || s.versions == nil {
		return nil, nil
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	list, err := s.assistants.ListAssistants(ctx)
	if err != nil {
		return nil, err
	}
	def := s.versions.Default()
	def.Name = "Default (" + def.Name + ")"
	return append([]storage.Assistant{def}, list...), nil
}

// consoleNewAssistant shows the form for a new assistant, filled with the
// default assistant's settings but its name, prompt and greeting.
func (s *Server) consoleNewAssistant(c *fiber.Ctx) error {
	def := s.versions.Default()
	def.ID, def.Version, def.Name, def.Prompt, def.Greeting = "", 0, "", "", ""
	def.CallMode = storage.CallModeGather
	form := console.NewAssistantForm(def)
	return s.assistantPage(c, http.StatusOK, form)
}

func (s *Server) assistantPage(c *fiber.Ctx, status int, form console.AssistantForm) error {
	title := form.Name
	if form.ID == "" {
		title = "New assistant"
	}
	if title == "" {
		title = "Assistant"
	}
	return s.renderPage(c, status, "assistant", console.Page{Title: title, Nav: "assistants", Notice: notice(c), Body: form})
}

// consoleCreateAssistant stores version 1 of a new assistant.
func (s *Server) consoleCreateAssistant(c *fiber.Ctx) error {
	doc, form := console.ParseAssistantForm(formValues(c))
	form.ID, form.Version = "", 0
	if doc == nil {
		return s.assistantPage(c, http.StatusBadRequest, form)
	}
	set, err := s.decodeAssistant(doc)
	if err == nil {
		ctx, cancel := s.storeContext(c)
		var a storage.Assistant
		a, err = s.assistants.CreateAssistant(ctx, set)
		cancel()
		if err == nil {
			s.logger(c).Info("assistant created", "assistant", a.ID, "via", "console")
			return c.Redirect(s.console.pages.Path("/console/assistants/"+a.ID)+"?saved=1", http.StatusSeeOther)
		}
	}
	return s.assistantProblem(c, form, err)
}

// assistantProblem shows the form again with what is wrong: each broken
// rule next to its field; anything else as an error page.
func (s *Server) assistantProblem(c *fiber.Ctx, form console.AssistantForm, err error) error {
	switch {
	case errors.Is(err, storage.ErrInvalid) && len(storage.FieldsOf(err)) > 0:
		form.SetErrors(storage.FieldsOf(err))
		return s.assistantPage(c, http.StatusBadRequest, form)
	case errors.Is(err, storage.ErrStale):
		form.Errors["version"] = "stale"
		c.Locals(localNotice, "Someone saved a newer version while you edited: nothing was saved. Your changes are below; open the assistant again to see theirs.")
		return s.assistantPage(c, http.StatusConflict, form)
	}
	return err
}

// consoleAssistant shows an assistant and the form that changes it (the
// default assistant read-only).
func (s *Server) consoleAssistant(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	if id == storage.DefaultAssistantID {
		return s.assistantPage(c, http.StatusOK, console.NewAssistantForm(s.versions.Default()))
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.assistants.GetAssistant(ctx, id)
	if err != nil {
		return err
	}
	form := console.NewAssistantForm(a)
	numbers, err := s.numbers.ListNumbers(ctx)
	if err != nil {
		return err
	}
	for _, n := range numbers {
		if n.AssistantID == id {
			form.Numbers = append(form.Numbers, n.Number)
		}
	}
	return s.assistantPage(c, http.StatusOK, form)
}

// consoleUpdateAssistant stores the form as the assistant's next version,
// provided the version it was edited from is still the current one.
func (s *Server) consoleUpdateAssistant(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	if id == storage.DefaultAssistantID {
		return defaultIsReadOnly
	}
	doc, form := console.ParseAssistantForm(formValues(c))
	form.ID = id
	if doc == nil {
		return s.assistantPage(c, http.StatusBadRequest, form)
	}
	set, err := s.decodeAssistant(doc)
	if err == nil {
		ctx, cancel := s.storeContext(c)
		var a storage.Assistant
		a, err = s.assistants.UpdateAssistant(ctx, id, form.Version, set)
		cancel()
		if err == nil {
			s.logger(c).Info("assistant updated", "assistant", a.ID, "version", a.Version, "via", "console")
			return c.Redirect(s.console.pages.Path("/console/assistants/"+a.ID)+"?saved=1", http.StatusSeeOther)
		}
	}
	return s.assistantProblem(c, form, err)
}

// consoleDeleteAssistantForm asks to confirm deleting an assistant.
func (s *Server) consoleDeleteAssistantForm(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	if id == storage.DefaultAssistantID {
		return defaultIsReadOnly
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.assistants.GetAssistant(ctx, id)
	if err != nil {
		return err
	}
	path := s.console.pages.Path("/console/assistants/" + id)
	return s.renderPage(c, http.StatusOK, "confirm", console.Page{Title: "Delete the assistant", Nav: "assistants", Body: console.Confirm{
		Question: "Delete " + a.Name + "?",
		Detail:   "Calls keep the versions they ran with, which stay readable. An assistant that still answers a number cannot be deleted: remove the number first.",
		Action:   path + "/delete?version=" + itoa(a.Version), Button: "Delete the assistant", Back: path,
	}})
}

// consoleDeleteAssistant deletes the assistant at the version the
// confirmation was shown for.
func (s *Server) consoleDeleteAssistant(c *fiber.Ctx) error {
	id, err := assistantID(c)
	if err != nil {
		return err
	}
	if id == storage.DefaultAssistantID {
		return defaultIsReadOnly
	}
	version := c.QueryInt("version", 0)
	ctx, cancel := s.storeContext(c)
	defer cancel()
	if err := s.assistants.DeleteAssistant(ctx, id, version); err != nil {
		return err
	}
	s.logger(c).Info("assistant deleted", "assistant", id, "version", version, "via", "console")
	return c.Redirect(s.console.pages.Path("/console/assistants")+"?deleted=1", http.StatusSeeOther)
}

// consoleNumbers lists the numbers and the form that adds one.
func (s *Server) consoleNumbers(c *fiber.Ctx) error {
	return s.numbersPage(c, http.StatusOK, "", "", nil)
}

func (s *Server) numbersPage(c *fiber.Ctx, status int, number, assistantID string, errs map[string]string) error {
	ctx, cancel := s.storeContext(c)
	list, err := s.numbers.ListNumbers(ctx)
	cancel()
	if err != nil {
		return err
	}
	choices, err := s.assistantChoices(c)
	if err != nil {
		return err
	}
	// The default assistant answers every number without one: it is not
	// a choice here.
	choices = slices.DeleteFunc(choices, func(a storage.Assistant) bool { return a.ID == storage.DefaultAssistantID })
	return s.renderPage(c, status, "numbers", console.Page{Title: "Numbers", Nav: "numbers", Notice: notice(c), Body: console.Numbers{
		List: list, Assistants: choices, Number: number, Assistant: assistantID, Errors: errs,
	}})
}

// consoleAddNumber routes a number to an assistant.
func (s *Server) consoleAddNumber(c *fiber.Ctx) error {
	v := formValues(c)
	n := storage.Number{Number: strings.TrimSpace(v.Get("number")), AssistantID: v.Get("assistant_id")}
	if normalized, err := storage.NormalizeNumber(n.Number); err == nil && strings.HasPrefix(normalized, "+") {
		n.Number = normalized // "+44 7700 900123" as typed
	}
	errs := map[string]string{}
	err := n.Check()
	if err == nil {
		ctx, cancel := s.storeContext(c)
		_, err = s.numbers.AddNumber(ctx, n)
		cancel()
		if err == nil {
			s.logger(c).Info("number routed", "number", maskPhone(n.Number), "assistant", n.AssistantID, "via", "console")
			return c.Redirect(s.console.pages.Path("/console/numbers")+"?saved=1", http.StatusSeeOther)
		}
	}
	switch {
	case len(storage.FieldsOf(err)) > 0:
		for _, f := range storage.FieldsOf(err) {
			errs[f.Field] = "This " + strings.ReplaceAll(f.Field, "_id", "") + " " + f.Message + "."
		}
	case errors.Is(err, storage.ErrNotFound):
		errs["assistant_id"] = "Choose an assistant from the list."
	case errors.Is(err, storage.ErrConflict):
		errs["number"] = "This number already has an assistant: remove it first."
	case errors.Is(err, storage.ErrInvalid):
		errs["number"] = storage.Message(err)
	default:
		return err
	}
	return s.numbersPage(c, http.StatusBadRequest, v.Get("number"), n.AssistantID, errs)
}

// consoleRemoveNumberForm asks to confirm removing a number's assistant.
func (s *Server) consoleRemoveNumberForm(c *fiber.Ctx) error {
	n, err := s.numberOf(c)
	if err != nil {
		return err
	}
	return s.renderPage(c, http.StatusOK, "confirm", console.Page{Title: "Remove the number", Nav: "numbers", Body: console.Confirm{
		Question: "Remove " + n.Number + "?",
		Detail:   "From the next call on, the default assistant answers it instead of " + n.AssistantID + ".",
		Action:   s.console.pages.Path("/console/numbers/" + url.PathEscape(n.Number) + "/delete"), Button: "Remove the number",
		Back: s.console.pages.Path("/console/numbers"),
	}})
}

// consoleRemoveNumber removes a number's assistant.
func (s *Server) consoleRemoveNumber(c *fiber.Ctx) error {
	number, err := numberParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	if err := s.numbers.DeleteNumber(ctx, number); err != nil {
		return err
	}
	s.logger(c).Info("number deleted", "number", maskPhone(number), "via", "console")
	return c.Redirect(s.console.pages.Path("/console/numbers")+"?deleted=1", http.StatusSeeOther)
}

const localNotice = "console_notice"

// notice is the one-line message a page shows after a change
// (?saved=1, ?deleted=1) or that a handler set.
func notice(c *fiber.Ctx) string {
	if n, ok := c.Locals(localNotice).(string); ok {
		return n
	}
	switch {
	case c.Query("saved") != "":
		return "Saved."
	case c.Query("deleted") != "":
		return "Deleted."
	}
	return ""
}

// formValues copies the posted form out of fasthttp's buffers.
func formValues(c *fiber.Ctx) url.Values {
	v := url.Values{}
	c.Request().PostArgs().VisitAll(func(k, val []byte) {
		v.Add(string(k), string(val))
	})
	return v
}
