package assistant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"switchboard/storage"
)

// Schema is a compiled analysis schema: a JSON Schema (draft 2020-12
// unless it says otherwise with $schema) whose top level describes an
// object.
type Schema struct {
	raw json.RawMessage
	s   *jsonschema.Schema
}

// noLoader refuses every external reference: a schema comes from an API
// client, and its "$ref" must not make the service read local files or
// fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external references are not allowed (%s)", url)
}

// schemaURL is the compiler's name for the schema being compiled.
const schemaURL = "urn:switchboard:analysis-schema"

// CompileSchema checks raw as an analysis schema: valid against its
// metaschema, self-contained (no external $ref), an object at the top.
// Errors wrap storage.ErrInvalid with a message fit for the API.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, storage.Errorf(storage.ErrInvalid, "is not JSON")
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, storage.Errorf(storage.ErrInvalid, "must be a JSON Schema object")
	}
	if top["type"] != "object" {
		return nil, storage.Errorf(storage.ErrInvalid, `must describe an object ("type": "object") whose properties are the analysis fields`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, storage.Errorf(storage.ErrInvalid, "is not a valid JSON Schema: %s", schemaError(err))
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, storage.Errorf(storage.ErrInvalid, "is not a valid JSON Schema: %s", schemaError(err))
	}
	return &Schema{raw: raw, s: s}, nil
}

// Raw is the schema as written.
func (s *Schema) Raw() json.RawMessage { return s.raw }

// Validate checks doc (JSON) against the schema.
func (s *Schema) Validate(doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.s.Validate(v); err != nil {
		return errors.New(schemaError(err))
	}
	return nil
}

// schemaError is a compiler or validation error on a few lines, bounded:
// the library's own text, with the compiler's internal name removed.
func schemaError(err error) string {
	msg := strings.ReplaceAll(err.Error(), schemaURL, "schema")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// Map is the schema decoded, for providers that take it as a document
// (Bedrock's tool input schema), which does not keep key order.
func (s *Schema) Map() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(s.raw, &m) // CompileSchema parsed it already
	return m
}

// Strict reports whether OpenAI's strict structured outputs accept the
// schema: every object lists all its properties as required and forbids
// others. A schema that does not is sent non-strict (the answer is
// validated either way).
func (s *Schema) Strict() bool {
	var v any
	if json.Unmarshal(s.raw, &v) != nil {
		return false
	}
	return strictObject(v)
}

func strictObject(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !strictObject(e) {
				return false
			}
		}
	case map[string]any:
		if props, ok := x["properties"].(map[string]any); ok {
			if x["additionalProperties"] != false {
				return false
			}
			req, _ := x["required"].([]any)
			if len(req) != len(props) {
				return false
			}
		}
		for k, e := range x {
			if k == "enum" || k == "const" || k == "default" || k == "examples" {
				continue
			}
			if !strictObject(e) {
				return false
			}
		}
	}
	return true
}
