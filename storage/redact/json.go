package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// JSON returns raw with every string value redacted as Text, and every
// number that is personal data (a card number a model wrote as a JSON
// number) replaced by its placeholder as a string, and the kinds
// replaced. Object keys, which are the schema's and not what anyone said,
// stay as they are, and so does the order of the members. Raw comes back
// unchanged (the same bytes) when nothing was found, or when it is not
// valid JSON: what is stored is validated elsewhere.
func JSON(raw json.RawMessage) (json.RawMessage, []Kind) {
	if len(raw) == 0 || !json.Valid(raw) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(raw))
	var kinds []Kind
	// Each open container: whether it is an object, and how many tokens
	// it has had (in an object, even counts are keys).
	type level struct {
		object bool
		n      int
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return raw, nil
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			continue
		}
		isKey := false
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			switch {
			case top.object && top.n%2 == 1:
				out.WriteByte(':')
			case top.n > 0:
				out.WriteByte(',')
			}
			isKey = top.object && top.n%2 == 0
			top.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, level{object: v == '{'})
		case string:
			if !isKey {
				var found []Kind
				v, found = Text(v)
				kinds = append(kinds, found...)
			}
			b, _ := json.Marshal(v)
			out.Write(b)
		case json.Number:
			if red, found := Text(v.String()); len(found) > 0 {
				kinds = append(kinds, found...)
				out.WriteString(strconv.Quote(red))
			} else {
				out.WriteString(v.String())
			}
		case bool:
			out.WriteString(strconv.FormatBool(v))
		case nil:
			out.WriteString("null")
		}
	}
	if len(kinds) == 0 {
		return raw, nil
	}
	return out.Bytes(), kinds
}
