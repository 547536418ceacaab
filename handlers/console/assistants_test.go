package console_test

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchboard/handlers/console"
	"switchboard/storage"
)

// TestAnalysisFields: the fields in the order the model wrote them, each
// scalar with a link that filters the calls by exactly its value.
func TestAnalysisFields(t *testing.T) {
	got := console.AnalysisFields([]byte(`{"reason": "hours", "booked": false, "count": 2, "code": "42", "note": null, "tags": ["a", "b"]}`), "/console/calls")
	link := func(k, v string) string { return "/console/calls?" + url.Values{"analysis." + k: {v}}.Encode() }
	want := []console.Field{
		{Name: "reason", Value: "hours", Filter: link("reason", "hours")},
		{Name: "booked", Value: "no", Filter: link("booked", "false")},
		{Name: "count", Value: "2", Filter: link("count", "2")},
		{Name: "code", Value: "42", Filter: link("code", `"42"`)},
		{Name: "note", Value: "null", Filter: link("note", "null")},
		{Name: "tags", Value: `["a", "b"]`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AnalysisFields (-want +got):\n%s", diff)
	}
	// Each link matches the field it came from.
	for _, f := range want[:5] {
		u, _ := url.Parse(f.Filter)
		for k, v := range u.Query() {
			m, err := storage.ParseAnalysisMatch(k, v[0])
			if err != nil || !m.Matches([]byte(`{"reason": "hours", "booked": false, "count": 2, "code": "42", "note": null}`)) {
				t.Errorf("the link of %s (%s) does not match its call: %v", f.Name, f.Filter, err)
			}
		}
	}
	if got := console.AnalysisFields([]byte(`[1]`), "/console/calls"); got != nil {
		t.Errorf("fields of a list: %v", got)
	}
}
