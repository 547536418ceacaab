package assistant

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"

	"switchboard/storage"
)

// Analyze fills the assistant's schema in deterministically from the
// caller's words, so development and tests get analyses without a model:
// a boolean field is true when the caller said its name (or its stem:
// "booked" matches "book"), an enum takes the value the caller said (else
// its first), a string named like a reason or topic gets the topics the
// rule set recognised, one named like a phone number the first number the
// caller said, any other string the caller's first words; numbers count
// the caller's turns. The result is validated like a model's.
func (s *Scripted) Analyze(ctx context.Context, c Conversation) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, storage.Wrap(storage.ErrUnavailable, err, "assistant gave up")
	}
	var raw json.RawMessage
	if c.Assistant != nil {
		raw = c.Assistant.AnalysisSchema
	}
	schema, err := analysisSchema(raw)
	if err != nil {
		return nil, err
	}
	f := filler{said: callerWords(c.Turns), turns: callerTurnCount(c.Turns), topics: s.topics(c.Turns)}
	doc, err := json.Marshal(f.fill(schema.Map(), ""))
	if err != nil {
		return nil, &MalformedError{What: "analysis does not encode", Err: err}
	}
	return ParseAnalysis(string(doc), schema)
}

// topics are the rule topics the caller asked about, in order.
func (s *Scripted) topics(turns []storage.Turn) []string {
	var topics []string
	for _, t := range turns {
		if t.Role != storage.RoleCaller {
			continue
		}
		said := normalize(t.Text)
		for _, r := range s.Rules {
			if r.Topic != "" && containsAny(said, r.Keywords) && !contains(topics, r.Topic) {
				topics = append(topics, r.Topic)
			}
		}
	}
	return topics
}

func callerWords(turns []storage.Turn) []string {
	var said []string
	for _, t := range turns {
		if t.Role == storage.RoleCaller && strings.TrimSpace(t.Text) != "" {
			said = append(said, t.Text)
		}
	}
	return said
}

func callerTurnCount(turns []storage.Turn) int {
	n := 0
	for _, t := range turns {
		if t.Role == storage.RoleCaller {
			n++
		}
	}
	return n
}

type filler struct {
	said   []string
	turns  int
	topics []string
}

var digitsRe = regexp.MustCompile(`\+?[0-9][0-9 ().-]{5,}[0-9]`)

// fill returns a value for schema, the schema of the field named name.
func (f filler) fill(schema map[string]any, name string) any {
	if v, ok := schema["const"]; ok {
		return v
	}
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		all := normalize(strings.Join(f.said, " "))
		for _, v := range enum {
			if s, ok := v.(string); ok && containsAny(all, []string{strings.ToLower(s)}) {
				return v
			}
		}
		return enum[0]
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := schema[key].([]any); ok && len(alts) > 0 {
			if alt, ok := alts[0].(map[string]any); ok {
				return f.fill(alt, name)
			}
		}
	}
	switch schemaType(schema) {
	case "object":
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		for k, p := range props {
			if ps, ok := p.(map[string]any); ok {
				out[k] = f.fill(ps, k)
			}
		}
		return out
	case "array":
		out := []any{}
		if n, ok := schema["minItems"].(float64); ok && n > 0 {
			item, _ := schema["items"].(map[string]any)
			for range int(math.Min(n, 10)) {
				out = append(out, f.fill(item, name))
			}
		}
		return out
	case "boolean":
		return f.mentioned(name)
	case "integer", "number":
		return bound(schema, float64(f.turns))
	case "null":
		return nil
	}
	return f.text(schema, name)
}

// text fills a string field.
func (f filler) text(schema map[string]any, name string) string {
	lower := strings.ToLower(name)
	var v string
	switch {
	case strings.Contains(lower, "reason"), strings.Contains(lower, "topic"), strings.Contains(lower, "intent"):
		v = "general enquiry"
		if len(f.topics) > 0 {
			v = strings.Join(f.topics, ", ")
		}
	case strings.Contains(lower, "phone"), strings.Contains(lower, "number"):
		v = digitsRe.FindString(strings.Join(f.said, " "))
	case len(f.said) > 0:
		v = f.said[0]
	}
	if n, ok := schema["maxLength"].(float64); ok && len([]rune(v)) > int(n) {
		v = string([]rune(v)[:int(n)])
	}
	return v
}

// mentioned reports whether the caller said the field's name, or its stem.
func (f filler) mentioned(name string) bool {
	all := normalize(strings.Join(f.said, " "))
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '_' || r == '-' || r == ' ' }) {
		words = append(words, w)
		for _, suffix := range []string{"ed", "ing", "s"} {
			if stem, ok := strings.CutSuffix(w, suffix); ok && len(stem) >= 3 {
				words = append(words, stem)
			}
		}
	}
	return len(words) > 0 && containsAny(all, words)
}

func schemaType(schema map[string]any) string {
	switch t := schema["type"].(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && s != "null" {
				return s
			}
		}
	}
	if _, ok := schema["properties"]; ok {
		return "object"
	}
	return "string"
}

func bound(schema map[string]any, v float64) float64 {
	if lo, ok := schema["minimum"].(float64); ok && v < lo {
		v = lo
	}
	if hi, ok := schema["maximum"].(float64); ok && v > hi {
		v = hi
	}
	return v
}
