package handlers

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"switchboard/storage"
)

// Request bodies of the assistants API are read field by field, so that a
// client hears of every bad field at once (a wrong type, an unknown name,
// a broken rule), each named, not only of the first one a decoder meets.

// readOnlyFields are parts of a representation a client may send back
// (PUT of what GET returned) and that are ignored.
var readOnlyFields = []string{"id", "version", "created_at", "updated_at"}

// decodeAssistant reads a whole assistant. Fields left out, or null, take
// their defaults: the default assistant's goodbye, language, voice and
// speech limits, call mode gather, the deployment's model, no analysis;
// name, prompt and greeting are required.
func (s *Server) decodeAssistant(body []byte) (storage.AssistantSettings, error) {
	def := s.versions.Default()
	set := storage.AssistantSettings{
		Goodbye:  def.Goodbye,
		Language: def.Language,
		Voice:    def.Voice,
		CallMode: storage.CallModeGather,
		Speech:   def.Speech,
	}
	obj, err := object(body, "the body")
	if err != nil {
		return set, err
	}
	var fe []storage.FieldError
	bad := func(field, msg string) { fe = append(fe, storage.FieldError{Field: field, Message: msg}) }
	str := func(field string, raw json.RawMessage, dst *string) {
		if isNull(raw) {
			return
		}
		if json.Unmarshal(raw, dst) != nil {
			bad(field, "must be a string")
		}
	}
	for _, k := range sortedKeys(obj) {
		raw := obj[k]
		switch k {
		case "name":
			str(k, raw, &set.Name)
		case "prompt":
			str(k, raw, &set.Prompt)
		case "greeting":
			str(k, raw, &set.Greeting)
		case "goodbye":
			str(k, raw, &set.Goodbye)
		case "language":
			str(k, raw, &set.Language)
		case "voice":
			str(k, raw, &set.Voice)
		case "call_mode":
			var mode string
			str(k, raw, &mode)
			if mode != "" {
				set.CallMode = storage.CallMode(mode)
			}
		case "model":
			fe = append(fe, decodeModel(raw, &set.Model)...)
		case "speech":
			fe = append(fe, decodeSpeech(raw, &set.Speech)...)
		case "analysis_schema":
			if !isNull(raw) {
				set.AnalysisSchema = slices.Clone(raw)
			}
		default:
			if !slices.Contains(readOnlyFields, k) {
				bad(k, "is not a field of an assistant")
			}
		}
	}
	// The rules, for fields that decoded; then what only the API checks.
	named := map[string]bool{}
	for _, f := range fe {
		named[f.Field] = true
	}
	for _, f := range append(set.Check(), compileSchema(set)...) {
		if !named[f.Field] {
			fe = append(fe, f)
			named[f.Field] = true
		}
	}
	if !named["language"] && !named["voice"] {
		fe = append(fe, speechFields(set.Language, set.Voice)...)
	}
	return set, storage.InvalidFields("assistant", fe)
}

func decodeModel(raw json.RawMessage, m *storage.ModelSettings) []storage.FieldError {
	if isNull(raw) {
		return nil
	}
	obj, err := object(raw, "model")
	if err != nil {
		return []storage.FieldError{{Field: "model", Message: "must be an object"}}
	}
	var fe []storage.FieldError
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		var err error
		switch k {
		case "name":
			m.Name = ""
			if !isNull(v) {
				err = json.Unmarshal(v, &m.Name)
			}
		case "temperature":
			m.Temperature = nil
			if !isNull(v) {
				var t float64
				err = json.Unmarshal(v, &t)
				m.Temperature = &t
			}
		case "max_tokens":
			m.MaxTokens = 0
			if !isNull(v) {
				err = json.Unmarshal(v, &m.MaxTokens)
			}
		default:
			fe = append(fe, storage.FieldError{Field: "model." + k, Message: "is not a field of model"})
			continue
		}
		if err != nil {
			fe = append(fe, storage.FieldError{Field: "model." + k, Message: "has the wrong type"})
		}
	}
	return fe
}

func decodeSpeech(raw json.RawMessage, sp *storage.SpeechLimits) []storage.FieldError {
	if isNull(raw) {
		return nil
	}
	obj, err := object(raw, "speech")
	if err != nil {
		return []storage.FieldError{{Field: "speech", Message: "must be an object"}}
	}
	var fe []storage.FieldError
	for _, k := range sortedKeys(obj) {
		var dst *int
		switch k {
		case "max_reply_chars":
			dst = &sp.MaxReplyChars
		case "max_silence":
			dst = &sp.MaxSilence
		default:
			fe = append(fe, storage.FieldError{Field: "speech." + k, Message: "is not a field of speech"})
			continue
		}
		if isNull(obj[k]) {
			continue // the default stays
		}
		if json.Unmarshal(obj[k], dst) != nil {
			fe = append(fe, storage.FieldError{Field: "speech." + k, Message: "must be an integer"})
		}
	}
	return fe
}

// decodeNumber reads {"number", "assistant_id"}.
func decodeNumber(body []byte) (storage.Number, error) {
	var n storage.Number
	obj, err := object(body, "the body")
	if err != nil {
		return n, err
	}
	var fe []storage.FieldError
	for _, k := range sortedKeys(obj) {
		switch k {
		case "number":
			if json.Unmarshal(obj[k], &n.Number) != nil {
				fe = append(fe, storage.FieldError{Field: k, Message: "must be a string"})
			}
		case "assistant_id":
			if json.Unmarshal(obj[k], &n.AssistantID) != nil {
				fe = append(fe, storage.FieldError{Field: k, Message: "must be a string"})
			}
		case "created_at":
		default:
			fe = append(fe, storage.FieldError{Field: k, Message: "is not a field of a number"})
		}
	}
	if len(fe) > 0 {
		return n, storage.InvalidFields("number", fe)
	}
	return n, n.Check()
}

// decodeSince reads a re-analysis request: {} or {"since": RFC 3339}.
func decodeSince(body []byte) (time.Time, error) {
	obj, err := object(body, "the body")
	if err != nil {
		return time.Time{}, err
	}
	var fe []storage.FieldError
	var since time.Time
	for _, k := range sortedKeys(obj) {
		if k != "since" {
			fe = append(fe, storage.FieldError{Field: k, Message: "is not a field of a re-analysis"})
			continue
		}
		var v string
		if isNull(obj[k]) {
			continue
		}
		if json.Unmarshal(obj[k], &v) != nil {
			fe = append(fe, storage.FieldError{Field: k, Message: "must be an RFC 3339 time"})
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			fe = append(fe, storage.FieldError{Field: k, Message: "must be an RFC 3339 time"})
			continue
		}
		since = t.UTC()
	}
	return since, storage.InvalidFields("re-analysis", fe)
}

// object decodes a JSON object; what names it in the error.
func object(body []byte, what string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&obj); err != nil || obj == nil || d.More() {
		return nil, storage.Errorf(storage.ErrInvalid, "%s must be one JSON object", what)
	}
	return obj, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mergePatch applies a JSON merge patch (RFC 7396) to the settings' JSON
// and returns the patched document: a member set to null is removed (and
// takes its default when the result is decoded), objects merge member by
// member, anything else replaces. Members the patch does not touch keep
// their JSON as stored (an analysis schema its key order).
func mergePatch(cur storage.AssistantSettings, patch []byte) ([]byte, error) {
	p, err := object(patch, "the merge patch")
	if err != nil {
		return nil, storage.Errorf(storage.ErrInvalid, "the body must be a JSON merge patch (RFC 7396) object: a whole assistant is replaced with PUT")
	}
	doc, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	var t map[string]json.RawMessage
	if err := json.Unmarshal(doc, &t); err != nil {
		return nil, err
	}
	for k, v := range p {
		old, had := t[k]
		switch {
		case isNull(v):
			delete(t, k)
		case had && storage.IsJSONObject(old) && storage.IsJSONObject(v):
			merged, err := json.Marshal(applyPatch(decodeAny(old), decodeAny(v)))
			if err != nil {
				return nil, err
			}
			t[k] = merged
		default:
			t[k] = v
		}
	}
	return json.Marshal(t)
}

func decodeAny(raw json.RawMessage) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	_ = d.Decode(&v) // raw was checked to be a JSON object
	return v
}

// applyPatch is RFC 7396's MergePatch(Target, Patch).
func applyPatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = applyPatch(t[k], v)
	}
	return t
}
