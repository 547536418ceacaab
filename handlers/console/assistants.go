package console

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"switchboard/storage"
)

// AssistantForm is an assistant's settings as the console's form shows
// and sends them: every field as typed, and a message next to each one
// that breaks a rule.
type AssistantForm struct {
	// ID and Version name what the form edits ("" for a new assistant);
	// Version is the one the edit was made against.
	ID      string
	Version int
	// ReadOnly: the deployment's default assistant, set by its
	// environment.
	ReadOnly bool

	Name, Prompt, Greeting, Goodbye, Language, Voice, CallMode string
	ModelName, Temperature, MaxTokens                          string
	MaxReplyChars, MaxSilence                                  string
	AnalysisSchema                                             string

	// Errors maps a field's name (the API's: "model.temperature") to
	// what is wrong with it.
	Errors map[string]string
	// Numbers are the phone numbers that route to the assistant.
	Numbers []string
	// Modes are the call modes to choose from.
	Modes []storage.CallMode
}

// FormField is one field of a form, with its hint and its error.
type FormField struct{ ID, Name, Label, Value, Hint, Error string }

// field makes a FormField of the assistant form; a template's way to
// pass several values to the field templates.
func field(f AssistantForm, name, label, value, hint string) FormField {
	return FormField{ID: strings.ReplaceAll(name, ".", "-"), Name: name, Label: label, Value: value, Hint: hint, Error: f.Errors[name]}
}

// CallModes lists the call modes, for the form.
var CallModes = []storage.CallMode{storage.CallModeGather, storage.CallModeRelay}

// NewAssistantForm fills the form from a stored assistant.
func NewAssistantForm(a storage.Assistant) AssistantForm {
	f := AssistantForm{ID: a.ID, Version: a.Version, ReadOnly: a.ID == storage.DefaultAssistantID,
		Name: a.Name, Prompt: a.Prompt, Greeting: a.Greeting, Goodbye: a.Goodbye, Language: a.Language,
		Voice: a.Voice, CallMode: string(a.CallMode), ModelName: a.Model.Name,
		MaxReplyChars: itoa(a.Speech.MaxReplyChars), MaxSilence: itoa(a.Speech.MaxSilence), Errors: map[string]string{},
		Modes: CallModes}
	if a.Model.Temperature != nil {
		f.Temperature = strconv.FormatFloat(*a.Model.Temperature, 'f', -1, 64)
	}
	if a.Model.MaxTokens != 0 {
		f.MaxTokens = itoa(a.Model.MaxTokens)
	}
	if storage.HasSchema(a.AnalysisSchema) {
		var b bytes.Buffer
		if json.Indent(&b, a.AnalysisSchema, "", "  ") == nil {
			f.AnalysisSchema = b.String()
		} else {
			f.AnalysisSchema = string(a.AnalysisSchema)
		}
	}
	return f
}

// ParseAssistantForm reads the posted form. It returns the assistant as a
// JSON document in the API's shape, which the API's decoder checks field
// by field (so the console and the API refuse the same things with the
// same messages), and the form to show again. A field the document
// cannot even carry (a schema that is not JSON) is reported in the form's
// Errors, and the document is then nil.
func ParseAssistantForm(v url.Values) ([]byte, AssistantForm) {
	get := func(k string) string { return strings.ReplaceAll(v.Get(k), "\r\n", "\n") }
	f := AssistantForm{
		ID: strings.TrimSpace(v.Get("id")), Name: get("name"), Prompt: get("prompt"), Greeting: get("greeting"),
		Goodbye: get("goodbye"), Language: strings.TrimSpace(v.Get("language")), Voice: strings.TrimSpace(v.Get("voice")),
		CallMode: v.Get("call_mode"), ModelName: strings.TrimSpace(v.Get("model.name")),
		Temperature: strings.TrimSpace(v.Get("model.temperature")), MaxTokens: strings.TrimSpace(v.Get("model.max_tokens")),
		MaxReplyChars: strings.TrimSpace(v.Get("speech.max_reply_chars")), MaxSilence: strings.TrimSpace(v.Get("speech.max_silence")),
		AnalysisSchema: get("analysis_schema"), Errors: map[string]string{}, Modes: CallModes,
	}
	f.Version, _ = strconv.Atoi(v.Get("version"))
	number := func(s string) any {
		if s == "" {
			return nil
		}
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return n
		}
		return s // the decoder says it has the wrong type
	}
	doc := map[string]any{
		"name": f.Name, "prompt": f.Prompt, "greeting": f.Greeting, "goodbye": f.Goodbye,
		"language": f.Language, "voice": f.Voice, "call_mode": f.CallMode,
		"model":  map[string]any{"name": f.ModelName, "temperature": number(f.Temperature), "max_tokens": number(f.MaxTokens)},
		"speech": map[string]any{"max_reply_chars": number(f.MaxReplyChars), "max_silence": number(f.MaxSilence)},
	}
	if s := strings.TrimSpace(f.AnalysisSchema); s != "" {
		if !json.Valid([]byte(s)) {
			f.Errors["analysis_schema"] = "Must be JSON: a JSON Schema object, or empty for no analysis."
			return nil, f
		}
		doc["analysis_schema"] = json.RawMessage(s)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		f.Errors["name"] = "The form could not be read."
		return nil, f
	}
	return b, f
}

// SetErrors shows each field error next to its field.
func (f *AssistantForm) SetErrors(fields []storage.FieldError) {
	for _, e := range fields {
		msg := e.Message
		if msg == "has the wrong type" || msg == "must be a number" || msg == "must be an integer" {
			msg = "must be a number"
		}
		if _, ok := f.Errors[e.Field]; !ok {
			f.Errors[e.Field] = upperFirst(msg) + "."
		}
	}
}

// Assistants is the list of assistants.
type Assistants struct {
	List []storage.Assistant
}

// Numbers is the list of numbers and the form that adds one.
type Numbers struct {
	List       []storage.Number
	Assistants []storage.Assistant
	// Number and Assistant are the add form as typed; Errors has a
	// message for each of its fields that could not be used.
	Number, Assistant string
	Errors            map[string]string
}

// Confirm asks to confirm a change that cannot be undone.
type Confirm struct {
	Question, Detail string
	// Action is where the form posts; Button names it; Back is where
	// "keep it" leads.
	Action, Button, Back string
}

// Field is one analysis field of a call, shown with a link to the calls
// that share its value.
type Field struct {
	Name, Value string
	// Filter is the call list filtered by this value ("" when the value
	// is not a single scalar, which the filter cannot match).
	Filter string
}

// AnalysisFields lists an analysis's fields in the order the model wrote
// them (its schema's order), nested objects and lists as compact JSON.
// list is the call list's path, for the links.
func AnalysisFields(raw json.RawMessage, list string) []Field {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []Field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		f := Field{Name: name, Value: string(v)}
		var scalar any
		if json.Unmarshal(v, &scalar) == nil {
			switch s := scalar.(type) {
			case string:
				f.Value = s
				// A string that reads as JSON ("42", "true") is sent
				// quoted, so the filter matches the string, not 42.
				q := s
				if json.Valid([]byte(s)) {
					q = string(v)
				}
				f.Filter = filterLink(list, name, q)
			case bool:
				f.Value = map[bool]string{true: "yes", false: "no"}[s]
				f.Filter = filterLink(list, name, string(v))
			case float64, nil:
				f.Filter = filterLink(list, name, string(v))
			}
		}
		out = append(out, f)
	}
	return out
}

func filterLink(list, name, value string) string {
	if _, err := storage.ParseAnalysisMatch("analysis."+name, value); err != nil {
		return ""
	}
	return list + "?" + url.Values{"analysis." + name: {value}}.Encode()
}

func itoa(n int) string { return strconv.Itoa(n) }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
