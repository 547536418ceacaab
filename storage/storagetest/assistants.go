package storagetest

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/storage"
)

// TestAssistants runs the contract of storage.Assistants, storage.Numbers
// and storage.Analyses, and how calls are routed to assistants, against
// the stores newStore returns (as TestCallStore).
func TestAssistants(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("Versions", func(t *testing.T) { testAssistantVersions(t, newStore) })
	t.Run("Validation", func(t *testing.T) { testAssistantValidation(t, newStore) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testAssistantConcurrentUpdates(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testAssistantDelete(t, newStore) })
	t.Run("Numbers", func(t *testing.T) { testNumbers(t, newStore) })
	t.Run("Routing", func(t *testing.T) { testRouting(t, newStore) })
	t.Run("Analysis", func(t *testing.T) { testAnalysis(t, newStore) })
	t.Run("AnalysisRuns", func(t *testing.T) { testAnalysisRuns(t, newStore) })
}

// settings returns valid assistant settings named name.
func settings(name string) storage.AssistantSettings {
	return storage.AssistantSettings{
		Name:     name,
		Prompt:   "You answer the telephone of " + name + ".",
		Greeting: "Hello, " + name + " here.",
		Goodbye:  "Goodbye from " + name + ".",
		Language: "en-US",
		Voice:    "Polly.Joanna-Neural",
		CallMode: storage.CallModeGather,
		Speech:   storage.SpeechLimits{MaxReplyChars: 400, MaxSilence: 2},
	}
}

const reasonSchema = `{"type":"object","properties":{"reason":{"type":"string"},"booked":{"type":"boolean"}},"required":["reason"]}`

func mustCreateAssistant(t *testing.T, s storage.Store, set storage.AssistantSettings) storage.Assistant {
	t.Helper()
	a, err := s.CreateAssistant(t.Context(), set)
	if err != nil {
		t.Fatalf("CreateAssistant(%s): %v", set.Name, err)
	}
	return a
}

func mustUpdateAssistant(t *testing.T, s storage.Store, a storage.Assistant, set storage.AssistantSettings) storage.Assistant {
	t.Helper()
	got, err := s.UpdateAssistant(t.Context(), a.ID, a.Version, set)
	if err != nil {
		t.Fatalf("UpdateAssistant(%s, %d): %v", a.ID, a.Version, err)
	}
	return got
}

func mustAddNumber(t *testing.T, s storage.Store, number, assistantID string) storage.Number {
	t.Helper()
	n, err := s.AddNumber(t.Context(), storage.Number{Number: number, AssistantID: assistantID})
	if err != nil {
		t.Fatalf("AddNumber(%s): %v", number, err)
	}
	return n
}

// start runs an incoming call n to number, with the default greeting.
func start(t *testing.T, s storage.Store, n int, to string, at time.Time) (storage.Call, storage.Turn) {
	t.Helper()
	nc := newCall(n, at)
	nc.To = to
	c, g, err := s.StartCall(t.Context(), nc, storage.Turn{Text: "Default hello."})
	if err != nil {
		t.Fatalf("StartCall(%s): %v", nc.SID, err)
	}
	return c, g
}

func testAssistantVersions(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	v1 := mustCreateAssistant(t, s, settings("Dental"))
	if !storage.ValidAssistantID(v1.ID) || v1.ID == storage.DefaultAssistantID || v1.Version != 1 {
		t.Fatalf("created %q version %d, want a fresh ID at version 1", v1.ID, v1.Version)
	}
	if diff := cmp.Diff(settings("Dental"), v1.AssistantSettings); diff != "" {
		t.Errorf("created settings (-want +got):\n%s", diff)
	}
	changed := settings("Dental")
	changed.Prompt = "A new prompt."
	temp := 0.7
	changed.Model = storage.ModelSettings{Name: "gpt-4o-mini", Temperature: &temp, MaxTokens: 200}
	changed.AnalysisSchema = json.RawMessage(reasonSchema)
	v2 := mustUpdateAssistant(t, s, v1, changed)
	if v2.ID != v1.ID || v2.Version != 2 || !v2.CreatedAt.Equal(v1.CreatedAt) || v2.UpdatedAt.Before(v1.UpdatedAt) {
		t.Fatalf("updated = %s v%d created %v updated %v; want %s v2 created %v", v2.ID, v2.Version, v2.CreatedAt, v2.UpdatedAt, v1.ID, v1.CreatedAt)
	}
	got, err := s.GetAssistant(t.Context(), v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v2, got); diff != "" {
		t.Errorf("GetAssistant after the update (-want +got):\n%s", diff)
	}
	old, err := s.GetAssistantVersion(t.Context(), v1.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v1, old); diff != "" {
		t.Errorf("version 1 after the update (-want +got):\n%s", diff)
	}
	if string(got.AnalysisSchema) != reasonSchema {
		t.Errorf("analysis schema = %s, want it as written: %s", got.AnalysisSchema, reasonSchema)
	}
	_, err = s.UpdateAssistant(t.Context(), v1.ID, 1, settings("Lost update"))
	wantKind(t, "UpdateAssistant from version 1 at version 2", err, storage.ErrStale)
	_, err = s.UpdateAssistant(t.Context(), storage.NewAssistantID(), 1, settings("Nobody"))
	wantKind(t, "UpdateAssistant of an unknown assistant", err, storage.ErrNotFound)
	_, err = s.GetAssistantVersion(t.Context(), v1.ID, 3)
	wantKind(t, "GetAssistantVersion of a version to come", err, storage.ErrNotFound)
	_, err = s.GetAssistant(t.Context(), storage.NewAssistantID())
	wantKind(t, "GetAssistant of an unknown assistant", err, storage.ErrNotFound)

	other := mustCreateAssistant(t, s, settings("Garage"))
	list, err := s.ListAssistants(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]storage.Assistant{v2, other}, list); diff != "" {
		t.Errorf("ListAssistants (-want +got):\n%s", diff)
	}
	// A caller changing what it got changes nothing stored.
	*got.Model.Temperature = 2
	got.AnalysisSchema[0] = '['
	again, _ := s.GetAssistant(t.Context(), v1.ID)
	if *again.Model.Temperature != 0.7 || string(again.AnalysisSchema) != reasonSchema {
		t.Errorf("an edit of a returned assistant leaked into the store: %+v", again)
	}
}

func testAssistantValidation(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	bad := settings("")
	bad.Language = "english please"
	bad.CallMode = "stream"
	bad.Speech.MaxReplyChars = 5
	bad.AnalysisSchema = json.RawMessage(`[1,2]`)
	_, err := s.CreateAssistant(t.Context(), bad)
	wantKind(t, "CreateAssistant with bad settings", err, storage.ErrInvalid)
	var fields []string
	for _, f := range storage.FieldsOf(err) {
		fields = append(fields, f.Field)
	}
	want := []string{"name", "language", "call_mode", "speech.max_reply_chars", "analysis_schema"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("field errors (-want +got):\n%s", diff)
	}
	list, _ := s.ListAssistants(t.Context())
	if len(list) != 0 {
		t.Errorf("a refused assistant was stored: %+v", list)
	}
	a := mustCreateAssistant(t, s, settings("Valid"))
	_, err = s.UpdateAssistant(t.Context(), a.ID, 1, bad)
	wantKind(t, "UpdateAssistant with bad settings", err, storage.ErrInvalid)
	if got, _ := s.GetAssistant(t.Context(), a.ID); got.Version != 1 {
		t.Errorf("a refused update made version %d", got.Version)
	}
}

func testAssistantConcurrentUpdates(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := mustCreateAssistant(t, s, settings("Busy"))
	var won, stale atomic.Int32
	concurrently(8, func(i int) {
		set := settings("Busy")
		set.Prompt = "Writer " + string(rune('A'+i))
		_, err := s.UpdateAssistant(t.Context(), a.ID, 1, set)
		switch {
		case err == nil:
			won.Add(1)
		case errors.Is(err, storage.ErrStale):
			stale.Add(1)
		default:
			t.Errorf("UpdateAssistant: %v", err)
		}
	})
	if won.Load() != 1 || stale.Load() != 7 {
		t.Fatalf("8 updates from version 1: %d won, %d stale; want 1 and 7", won.Load(), stale.Load())
	}
	if got, _ := s.GetAssistant(t.Context(), a.ID); got.Version != 2 {
		t.Fatalf("version after the race = %d, want 2", got.Version)
	}
}

func testAssistantDelete(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := mustCreateAssistant(t, s, settings("Shop"))
	mustAddNumber(t, s, "+14155550123", a.ID)
	wantKind(t, "DeleteAssistant while a number routes to it", s.DeleteAssistant(t.Context(), a.ID, 1), storage.ErrConflict)
	wantKind(t, "DeleteAssistant from a stale version", s.DeleteAssistant(t.Context(), a.ID, 7), storage.ErrStale)
	if err := s.DeleteNumber(t.Context(), "+14155550123"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAssistant(t.Context(), a.ID, 1); err != nil {
		t.Fatalf("DeleteAssistant: %v", err)
	}
	_, err := s.GetAssistant(t.Context(), a.ID)
	wantKind(t, "GetAssistant after the delete", err, storage.ErrNotFound)
	wantKind(t, "a second DeleteAssistant", s.DeleteAssistant(t.Context(), a.ID, 1), storage.ErrNotFound)
	_, err = s.UpdateAssistant(t.Context(), a.ID, 1, settings("Shop"))
	wantKind(t, "UpdateAssistant after the delete", err, storage.ErrNotFound)
	if v, err := s.GetAssistantVersion(t.Context(), a.ID, 1); err != nil || v.Name != "Shop" {
		t.Errorf("version 1 of a deleted assistant = %+v, %v; want it still readable", v, err)
	}
	_, err = s.AddNumber(t.Context(), storage.Number{Number: "+14155550124", AssistantID: a.ID})
	wantKind(t, "AddNumber to a deleted assistant", err, storage.ErrNotFound)
}

func testNumbers(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := mustCreateAssistant(t, s, settings("Front desk"))
	second := mustAddNumber(t, s, "+442071838750", a.ID)
	first := mustAddNumber(t, s, "+14155550100", a.ID)
	if first.AssistantID != a.ID || first.CreatedAt.IsZero() {
		t.Errorf("AddNumber = %+v", first)
	}
	_, err := s.AddNumber(t.Context(), storage.Number{Number: "+14155550100", AssistantID: a.ID})
	wantKind(t, "AddNumber of a routed number", err, storage.ErrConflict)
	_, err = s.AddNumber(t.Context(), storage.Number{Number: "+14155550101", AssistantID: storage.NewAssistantID()})
	wantKind(t, "AddNumber to an unknown assistant", err, storage.ErrNotFound)
	for _, n := range []storage.Number{
		{Number: "14155550100", AssistantID: a.ID},
		{Number: "+0123", AssistantID: a.ID},
		{Number: "+1415555010012345", AssistantID: a.ID},
		{Number: "+14155550102", AssistantID: storage.DefaultAssistantID},
		{Number: "+14155550102", AssistantID: "as_x"},
	} {
		_, err := s.AddNumber(t.Context(), n)
		wantKind(t, "AddNumber("+n.Number+", "+n.AssistantID+")", err, storage.ErrInvalid)
	}
	list, err := s.ListNumbers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]storage.Number{first, second}, list); diff != "" {
		t.Errorf("ListNumbers (-want +got):\n%s", diff)
	}
	if got, err := s.GetNumber(t.Context(), "+14155550100"); err != nil || got != first {
		t.Errorf("GetNumber = %+v, %v; want %+v", got, err, first)
	}
	if err := s.DeleteNumber(t.Context(), "+14155550100"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "a second DeleteNumber", s.DeleteNumber(t.Context(), "+14155550100"), storage.ErrNotFound)
	_, err = s.GetNumber(t.Context(), "+14155550100")
	wantKind(t, "GetNumber after the delete", err, storage.ErrNotFound)
}

func testRouting(t *testing.T, newStore newStoreFunc) {
	const dental, garage, unrouted = "+14155550001", "+14155550002", "+14155550003"
	t.Run("EachNumberItsAssistantsGreeting", func(t *testing.T) {
		s := newStore(t)
		d := mustCreateAssistant(t, s, settings("Dental"))
		g := mustCreateAssistant(t, s, settings("Garage"))
		mustAddNumber(t, s, dental, d.ID)
		mustAddNumber(t, s, garage, g.ID)
		for i, tc := range []struct {
			to       string
			ref      storage.AssistantRef
			greeting string
		}{
			{dental, d.Ref(), "Hello, Dental here."},
			{garage, g.Ref(), "Hello, Garage here."},
			{unrouted, storage.DefaultRef, "Default hello."},
		} {
			c, greeting := start(t, s, i+1, tc.to, t0)
			if c.Assistant != tc.ref || greeting.Text != tc.greeting || greeting.Error != "" {
				t.Errorf("call to %s: assistant %+v, greeting %q; want %+v, %q", tc.to, c.Assistant, greeting.Text, tc.ref, tc.greeting)
			}
		}
	})
	t.Run("CallKeepsItsVersion", func(t *testing.T) {
		s := newStore(t)
		v1 := mustCreateAssistant(t, s, settings("Dental"))
		mustAddNumber(t, s, dental, v1.ID)
		before, _ := start(t, s, 1, dental, t0)
		changed := settings("Dental")
		changed.Greeting = "Hello again."
		v2 := mustUpdateAssistant(t, s, v1, changed)
		after, greeting := start(t, s, 2, dental, t0.Add(time.Minute))
		if after.Assistant != v2.Ref() || greeting.Text != "Hello again." {
			t.Errorf("call after the update: %+v %q; want %+v with the new greeting", after.Assistant, greeting.Text, v2.Ref())
		}
		// The repeated webhook of the first call and every later write
		// keep the version it started with.
		again, g0 := start(t, s, 1, dental, t0)
		st, err := s.BeginTurn(t.Context(), newCall(1, t0), storage.Turn{Number: 1, Text: "Hi"})
		if err != nil {
			t.Fatal(err)
		}
		ended := mustApply(t, s, before.SID, storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute)})
		for what, got := range map[string]storage.AssistantRef{"StartCall": before.Assistant, "repeated StartCall": again.Assistant,
			"BeginTurn": st.Call.Assistant, "ApplyStatus": ended.Assistant, "GetCall": mustGetCall(t, s, before.SID).Assistant} {
			if got != v1.Ref() {
				t.Errorf("%s of the call made before the update: %+v, want %+v", what, got, v1.Ref())
			}
		}
		if g0.Text != "Hello, Dental here." {
			t.Errorf("repeated StartCall greeting = %q, want the first one", g0.Text)
		}
	})
	t.Run("EveryWebhookThatCreatesTheCall", func(t *testing.T) {
		s := newStore(t)
		a := mustCreateAssistant(t, s, settings("Dental"))
		mustAddNumber(t, s, dental, a.ID)
		nc := newCall(1, t0)
		nc.To = dental
		st, err := s.BeginTurn(t.Context(), nc, storage.Turn{Number: 1, Text: "Hello?"})
		if err != nil || st.Call.Assistant != a.Ref() {
			t.Errorf("BeginTurn creating the call: %+v, %v; want %+v", st.Call.Assistant, err, a.Ref())
		}
		nc = newCall(2, t0)
		nc.To = dental
		c, err := s.ApplyStatus(t.Context(), nc, storage.StatusEvent{Status: storage.StatusCompleted, At: t0})
		if err != nil || c.Assistant != a.Ref() {
			t.Errorf("ApplyStatus creating the call: %+v, %v; want %+v", c.Assistant, err, a.Ref())
		}
		// A recording callback knows no number: the call runs with the
		// default until a webhook tells its number.
		rec := newRecording(1, 3)
		mustAddRecording(t, s, rec)
		if got := mustGetCall(t, s, rec.CallSID).Assistant; got != storage.DefaultRef {
			t.Errorf("call created by a recording: %+v, want the default", got)
		}
		nc = newCall(3, t0)
		nc.To = dental
		if c, _, err := s.StartCall(t.Context(), nc, storage.Turn{}); err != nil || c.Assistant != a.Ref() {
			t.Errorf("StartCall telling the number: %+v, %v; want %+v", c.Assistant, err, a.Ref())
		}
	})
	t.Run("ListByAssistant", func(t *testing.T) {
		s := newStore(t)
		a := mustCreateAssistant(t, s, settings("Dental"))
		mustAddNumber(t, s, dental, a.ID)
		start(t, s, 1, dental, t0)
		start(t, s, 2, unrouted, t0.Add(time.Second))
		start(t, s, 3, dental, t0.Add(2*time.Second))
		for id, want := range map[string][]string{a.ID: {callSID(3), callSID(1)}, storage.DefaultAssistantID: {callSID(2)}} {
			page, err := s.ListCalls(t.Context(), storage.CallFilter{Assistant: id})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, sids(page.Calls)); diff != "" {
				t.Errorf("ListCalls(assistant %s) (-want +got):\n%s", id, diff)
			}
		}
		_, err := s.ListCalls(t.Context(), storage.CallFilter{Assistant: "'; DROP TABLE calls"})
		wantKind(t, "ListCalls with a malformed assistant", err, storage.ErrInvalid)
	})
}

func sids(calls []storage.Call) []string {
	out := []string{}
	for _, c := range calls {
		out = append(out, c.SID)
	}
	return out
}

// endCall ends call n and returns its summary work, claimed.
func endCall(t *testing.T, s storage.Store, n int) {
	t.Helper()
	mustApply(t, s, callSID(n), storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Duration: 60})
}

// claimKind claims due work until an item of kind comes, completing the
// others, and fails when none does.
func claimKind(t *testing.T, s storage.Store, kind storage.WorkKind) storage.Work {
	t.Helper()
	for range 100 {
		w := mustClaim(t, s, claimAt)
		if w.Kind == kind {
			return w
		}
		if err := s.CompleteWork(t.Context(), w); err != nil {
			t.Fatalf("CompleteWork(%s): %v", w.Kind, err)
		}
	}
	t.Fatalf("no %s work", kind)
	return storage.Work{}
}

func testAnalysis(t *testing.T, newStore newStoreFunc) {
	t.Run("AfterTheSummary", func(t *testing.T) {
		s := newStore(t)
		start(t, s, 1, callee, t0)
		endCall(t, s, 1)
		w := claimKind(t, s, storage.WorkSummarizeCall)
		if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Talked.", CreatedAt: t0}, true); err != nil {
			t.Fatal(err)
		}
		w = mustClaim(t, s, claimAt)
		if w.Kind != storage.WorkAnalyzeCall || w.CallSID != callSID(1) || w.RunID != 0 {
			t.Fatalf("work after a summary with analysis = %+v, want the call's analysis", w)
		}
		a := storage.Analysis{Fields: json.RawMessage(`{"reason":"hours","booked":false,"count":2}`), AssistantVersion: 0, CreatedAt: t0.Add(time.Hour)}
		if err := s.CompleteAnalysis(t.Context(), w, a); err != nil {
			t.Fatalf("CompleteAnalysis: %v", err)
		}
		got := mustGetCall(t, s, callSID(1)).Analysis
		if got == nil || !got.CreatedAt.Equal(a.CreatedAt) || !jsonEqual(got.Fields, a.Fields) {
			t.Fatalf("analysis = %+v, want %s", got, a.Fields)
		}
		mustNoWork(t, s, claimAt.Add(1000*time.Hour))
		wantKind(t, "a second CompleteAnalysis", s.CompleteAnalysis(t.Context(), w, a), storage.ErrConflict)
	})
	t.Run("Filter", func(t *testing.T) {
		s := newStore(t)
		analyses := []string{`{"reason":"hours","booked":false,"count":2}`, `{"reason":"booking","booked":true,"count":2.0,"who":{"name":"Ann"}}`, ``}
		for i, fields := range analyses {
			start(t, s, i+1, callee, t0.Add(time.Duration(i)*time.Second))
			endCall(t, s, i+1)
			w := claimKind(t, s, storage.WorkSummarizeCall)
			if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Talked."}, fields != ""); err != nil {
				t.Fatal(err)
			}
			if fields == "" {
				continue
			}
			w = claimKind(t, s, storage.WorkAnalyzeCall)
			if err := s.CompleteAnalysis(t.Context(), w, storage.Analysis{Fields: json.RawMessage(fields)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			filters [][2]string
			want    []string
		}{
			{[][2]string{{"analysis.booked", "true"}}, []string{callSID(2)}},
			{[][2]string{{"analysis.booked", "false"}}, []string{callSID(1)}},
			{[][2]string{{"analysis.reason", "hours"}}, []string{callSID(1)}},
			{[][2]string{{"analysis.reason", `"booking"`}}, []string{callSID(2)}},
			{[][2]string{{"analysis.count", "2"}}, []string{callSID(2), callSID(1)}},
			{[][2]string{{"analysis.count", `"2"`}}, []string{}},
			{[][2]string{{"analysis.who.name", "Ann"}}, []string{callSID(2)}},
			{[][2]string{{"analysis.reason", "hours"}, {"analysis.booked", "true"}}, []string{}},
			{[][2]string{{"analysis.reason", "HOURS"}}, []string{}},
			{[][2]string{{"analysis.missing", "null"}}, []string{}},
		} {
			var f storage.CallFilter
			for _, kv := range tc.filters {
				m, err := storage.ParseAnalysisMatch(kv[0], kv[1])
				if err != nil {
					t.Fatalf("ParseAnalysisMatch(%s=%s): %v", kv[0], kv[1], err)
				}
				f.Analysis = append(f.Analysis, m)
			}
			page, err := s.ListCalls(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, sids(page.Calls)); diff != "" {
				t.Errorf("ListCalls(%v) (-want +got):\n%s", tc.filters, diff)
			}
			for _, c := range page.Calls {
				if c.Analysis == nil {
					t.Errorf("listed call %s without its analysis", c.SID)
				}
			}
		}
	})
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
}

func testAnalysisRuns(t *testing.T, newStore newStoreFunc) {
	const dental = "+14155550001"
	// setup: an assistant with a schema, three ended calls of it (one
	// before since), one live call of it and one ended call of another.
	setup := func(t *testing.T) (storage.Store, storage.Assistant) {
		s := newStore(t)
		set := settings("Dental")
		set.AnalysisSchema = json.RawMessage(reasonSchema)
		a := mustCreateAssistant(t, s, set)
		mustAddNumber(t, s, dental, a.ID)
		for i := 1; i <= 4; i++ {
			start(t, s, i, dental, t0.Add(time.Duration(i)*time.Hour))
			if i <= 3 {
				endCall(t, s, i)
			}
		}
		start(t, s, 5, callee, t0)
		endCall(t, s, 5)
		for _, w := range drain(t, s, claimAt) {
			if err := s.CompleteWork(t.Context(), w); err != nil {
				t.Fatal(err)
			}
		}
		return s, a
	}
	t.Run("AnalyzesEndedCallsSince", func(t *testing.T) {
		s, a := setup(t)
		set := a.AssistantSettings
		set.AnalysisSchema = json.RawMessage(`{"type":"object","properties":{"topic":{"type":"string"}}}`)
		a = mustUpdateAssistant(t, s, a, set)
		run, err := s.StartAnalysisRun(t.Context(), a.ID, t0.Add(2*time.Hour))
		if err != nil {
			t.Fatalf("StartAnalysisRun: %v", err)
		}
		want := storage.AnalysisRun{ID: run.ID, AssistantID: a.ID, Version: 2, Total: 2, Pending: 2, Status: storage.RunRunning, CreatedAt: run.CreatedAt}
		since := t0.Add(2 * time.Hour)
		want.Since = &since
		if diff := cmp.Diff(want, run); diff != "" {
			t.Errorf("new run (-want +got):\n%s", diff)
		}
		_, err = s.StartAnalysisRun(t.Context(), a.ID, time.Time{})
		wantKind(t, "a second run while the first runs", err, storage.ErrConflict)
		works := drain(t, s, claimAt)
		if len(works) != 2 {
			t.Fatalf("run work = %+v, want calls 2 and 3", works)
		}
		for i, w := range works {
			if w.Kind != storage.WorkAnalyzeCall || w.RunID != run.ID || (w.CallSID != callSID(2) && w.CallSID != callSID(3)) {
				t.Fatalf("run work = %+v", w)
			}
			if i == 0 {
				if err := s.CompleteAnalysis(t.Context(), w, storage.Analysis{Fields: json.RawMessage(`{"topic":"teeth"}`), AssistantVersion: 2}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := s.FailWork(t.Context(), w, storage.Failure{Err: "model said nonsense", Final: true}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetAnalysisRun(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		want.Done, want.Failed, want.Pending, want.Status, want.LastError = 1, 1, 0, storage.RunCompleted, "model said nonsense"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("finished run (-want +got):\n%s", diff)
		}
		c := mustGetCall(t, s, works[0].CallSID)
		if c.Analysis == nil || c.Analysis.AssistantVersion != 2 || !jsonEqual(c.Analysis.Fields, json.RawMessage(`{"topic":"teeth"}`)) {
			t.Errorf("analysis after the run = %+v", c.Analysis)
		}
		if _, err := s.StartAnalysisRun(t.Context(), a.ID, time.Time{}); err != nil {
			t.Errorf("a run after the first finished: %v", err)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		s, a := setup(t)
		_, err := s.StartAnalysisRun(t.Context(), storage.NewAssistantID(), time.Time{})
		wantKind(t, "StartAnalysisRun of an unknown assistant", err, storage.ErrNotFound)
		set := a.AssistantSettings
		set.AnalysisSchema = nil
		mustUpdateAssistant(t, s, a, set)
		_, err = s.StartAnalysisRun(t.Context(), a.ID, time.Time{})
		wantKind(t, "StartAnalysisRun without a schema", err, storage.ErrConflict)
		_, err = s.GetAnalysisRun(t.Context(), 424242)
		wantKind(t, "GetAnalysisRun of an unknown run", err, storage.ErrNotFound)
		mustNoWork(t, s, claimAt)
	})
	t.Run("QueuedAnalysisJoinsTheRun", func(t *testing.T) {
		s, a := setup(t)
		// Call 4 ends: its summary asks for its analysis, which a worker
		// claims before the run starts.
		endCall(t, s, 4)
		w := claimKind(t, s, storage.WorkSummarizeCall)
		if err := s.CompleteSummary(t.Context(), w, storage.Summary{Text: "Talked."}, true); err != nil {
			t.Fatal(err)
		}
		early := claimKind(t, s, storage.WorkAnalyzeCall)
		run, err := s.StartAnalysisRun(t.Context(), a.ID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if run.Total != 4 {
			t.Errorf("run total = %d, want the 4 ended calls", run.Total)
		}
		// The early analysis used the call's version, not the run's: it is
		// handed back, not stored, and comes again as the run's.
		if err := s.CompleteAnalysis(t.Context(), early, storage.Analysis{Fields: json.RawMessage(`{"reason":"early"}`)}); err != nil {
			t.Fatalf("CompleteAnalysis of work that joined a run: %v", err)
		}
		if c := mustGetCall(t, s, callSID(4)); c.Analysis != nil {
			t.Errorf("the analysis that joined a run was stored: %+v", c.Analysis)
		}
		again := drain(t, s, claimAt.Add(time.Hour))
		found := false
		for _, w := range again {
			if w.CallSID == callSID(4) {
				found = w.RunID == run.ID && w.Attempts == early.Attempts
			}
		}
		if !found {
			t.Errorf("call 4's analysis did not come back for the run: %+v", again)
		}
	})
}
