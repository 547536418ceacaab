package redact_test

import (
	"encoding/json"
	"slices"
	"testing"

	"switchboard/storage/redact"
)

func TestJSON(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
		kinds          []redact.Kind
	}{
		{"StringsRedactedKeysKept", `{"phone":"415-555-0132","note":"card 4111 1111 1111 1111","n":3}`,
			`{"phone":"[phone]","note":"card [card]","n":3}`, []redact.Kind{redact.Phone, redact.Card}},
		{"NestedAndArrays", `{"a":[{"email":"jane@example.com"},"x",null,true],"b":{"c":"ok"}}`,
			`{"a":[{"email":"[email]"},"x",null,true],"b":{"c":"ok"}}`, []redact.Kind{redact.Email}},
		{"NumberThatIsACard", `{"card":4111111111111111,"price":12.5}`, `{"card":"[card]","price":12.5}`, []redact.Kind{redact.Card}},
		{"KeyOrderKept", `{"z":"a@b.co","a":1}`, `{"z":"[email]","a":1}`, []redact.Kind{redact.Email}},
		{"TopLevelString", `"call 415-555-0132"`, `"call [phone]"`, []redact.Kind{redact.Phone}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, kinds := redact.JSON(json.RawMessage(c.in))
			if string(got) != c.want {
				t.Errorf("JSON(%s) = %s, want %s", c.in, got, c.want)
			}
			if !json.Valid(got) {
				t.Errorf("JSON(%s) = %s is not valid JSON", c.in, got)
			}
			if !slices.Equal(kinds, c.kinds) {
				t.Errorf("kinds %v, want %v", kinds, c.kinds)
			}
		})
	}
	t.Run("UnchangedBytesWhenClean", func(t *testing.T) {
		in := json.RawMessage("{ \"order\" : \"12345\",\n \"total\": 4532.18 }")
		got, kinds := redact.JSON(in)
		if string(got) != string(in) || kinds != nil {
			t.Errorf("JSON(%s) = %s %v, want it unchanged", in, got, kinds)
		}
	})
	t.Run("InvalidLeftForTheValidator", func(t *testing.T) {
		in := json.RawMessage(`{"a": "415-555-0132"`)
		if got, _ := redact.JSON(in); string(got) != string(in) {
			t.Errorf("JSON(%s) = %s", in, got)
		}
	})
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"415-555-0132"}`, `[1,"x",{"b":4111111111111111}]`, `"jane@example.com"`, `null`, `{"k":{"n":[true,false,null,1.5e3]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, kinds := redact.JSON(json.RawMessage(s))
		if len(kinds) == 0 && string(got) != s {
			t.Fatalf("changed %q to %q without finding anything", s, got)
		}
		if json.Valid([]byte(s)) && !json.Valid(got) {
			t.Fatalf("valid %q became invalid %q", s, got)
		}
		if again, more := redact.JSON(got); string(again) != string(got) || len(more) != 0 {
			t.Fatalf("redacting %q twice changed it again: %q %v", got, again, more)
		}
	})
}
