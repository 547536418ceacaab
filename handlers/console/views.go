package console

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/storage"
)

// Page is what every console page shows around its content.
type Page struct {
	Title string
	// Nav names the section the page belongs to: calls, live.
	Nav string
	// CSRF is the token the page's forms send back ("" when signed out).
	CSRF string
	// Who names the person signed in ("" when signed out).
	Who string
	// Script loads console.js (the live view).
	Script bool
	// Notice is a one-line message at the top of the page.
	Notice string
	Body   any
}

// Statuses lists the call statuses in the order of a call's life, for
// the status filter.
var Statuses = []storage.CallStatus{
	storage.StatusQueued, storage.StatusInitiated, storage.StatusRinging, storage.StatusInProgress,
	storage.StatusCompleted, storage.StatusBusy, storage.StatusFailed, storage.StatusNoAnswer, storage.StatusCanceled,
}

// Filter is the call list's filter form as typed, with a message next to
// each field that could not be used.
type Filter struct {
	Status, Number, Since, Until, Assistant string
	// Analysis are the analysis matches, as field (dotted for a nested
	// one) and value; the form shows the first to edit and keeps the rest.
	Analysis []AnalysisPair
	Errors   map[string]string
}

// AnalysisPair is one analysis match as typed.
type AnalysisPair struct{ Field, Value string }

// ParseFilter reads the call list's query parameters into a store filter
// and the form to show again. Every problem is reported against its
// field; the filter is usable only when the form has no errors.
func ParseFilter(q url.Values) (storage.CallFilter, Filter) {
	form := Filter{
		Status: strings.TrimSpace(q.Get("status")), Number: strings.TrimSpace(q.Get("number")),
		Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until")),
		Errors: map[string]string{},
	}
	var f storage.CallFilter
	if form.Status != "" {
		st, err := storage.ParseCallStatus(form.Status)
		if err != nil {
			form.Errors["status"] = "Choose a status from the list."
		}
		f.Status = st
	}
	if form.Number != "" {
		n, err := storage.NormalizeNumber(form.Number)
		if err != nil {
			form.Errors["number"] = "Type a full number with its country code (+14155550100) or its last 4 digits or more."
		}
		f.Number = n
	}
	if form.Since != "" {
		d, err := time.Parse(time.DateOnly, form.Since)
		if err != nil {
			form.Errors["since"] = "Type a date as YYYY-MM-DD."
		}
		f.Since = d
	}
	if form.Until != "" {
		d, err := time.Parse(time.DateOnly, form.Until)
		if err != nil {
			form.Errors["until"] = "Type a date as YYYY-MM-DD."
		} else {
			f.Until = d.AddDate(0, 0, 1) // the whole last day
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		form.Errors["until"] = "The last day cannot come before the first."
	}
	if form.Assistant = strings.TrimSpace(q.Get("assistant")); form.Assistant != "" {
		if !storage.ValidAssistantID(form.Assistant) {
			form.Errors["assistant"] = "Choose an assistant from the list."
		}
		f.Assistant = form.Assistant
	}
	// Analysis matches: analysis.<field>=<value> (the links of a call's
	// fields), and the form's field and value.
	var pairs []AnalysisPair
	if field := strings.TrimSpace(q.Get("analysis_field")); field != "" || q.Get("analysis_value") != "" {
		pairs = append(pairs, AnalysisPair{Field: field, Value: q.Get("analysis_value")})
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		if strings.HasPrefix(k, "analysis.") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			pairs = append(pairs, AnalysisPair{Field: strings.TrimPrefix(k, "analysis."), Value: v})
		}
	}
	for _, p := range pairs {
		if len(f.Analysis) == storage.MaxAnalysisMatches {
			form.Errors["analysis"] = "At most " + strconv.Itoa(storage.MaxAnalysisMatches) + " analysis filters."
			break
		}
		m, err := storage.ParseAnalysisMatch("analysis."+p.Field, p.Value)
		if err != nil {
			form.Errors["analysis"] = "Type a field of the analysis (letters, digits, _ and -; a.b for a nested one) and one value."
			continue
		}
		f.Analysis = append(f.Analysis, m)
		form.Analysis = append(form.Analysis, p)
	}
	if form.Errors["analysis"] != "" && len(form.Analysis) == 0 && len(pairs) > 0 {
		form.Analysis = pairs[:1] // show what was typed again
	}
	if c := q.Get("cursor"); c != "" {
		if _, _, err := storage.DecodeCursor(c); err != nil {
			form.Errors["cursor"] = "This page link is broken; start again from the newest calls."
		}
		f.Cursor = c
	}
	return f, form
}

// Query is the filter as query parameters, for the page links.
func (f Filter) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "number": f.Number, "since": f.Since, "until": f.Until, "assistant": f.Assistant} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, p := range f.Analysis {
		q.Add("analysis."+p.Field, p.Value)
	}
	return q
}

// FirstAnalysis is the analysis match the form shows to edit.
func (f Filter) FirstAnalysis() AnalysisPair {
	if len(f.Analysis) == 0 {
		return AnalysisPair{}
	}
	return f.Analysis[0]
}

// MoreAnalysis are the analysis matches the form keeps as they are.
func (f Filter) MoreAnalysis() []AnalysisPair {
	if len(f.Analysis) < 2 {
		return nil
	}
	return f.Analysis[1:]
}

// Calls is the call list page.
type Calls struct {
	Filter   Filter
	Statuses []storage.CallStatus
	// Assistants are the choices of the assistant filter.
	Assistants []storage.Assistant
	Rows       []CallRow
	// Next continues the list ("" on the last page); First goes back to
	// the newest calls ("" on the first page).
	Next, First string
}

// CallRow is one call in a list.
type CallRow struct {
	SID, From, To, Direction string
	Status                   storage.CallStatus
	Ended                    bool
	Started                  time.Time
	Duration                 int
}

// Rows turns listed calls into rows.
func Rows(calls []storage.Call) []CallRow {
	rows := make([]CallRow, 0, len(calls))
	for _, c := range calls {
		rows = append(rows, CallRow{SID: c.SID, From: orUnknown(c.From), To: orUnknown(c.To), Direction: c.Direction,
			Status: c.Status, Ended: c.Status.Terminal(), Started: c.CreatedAt, Duration: c.Duration})
	}
	return rows
}

// Call is the page of one call.
type Call struct {
	Row CallRow
	// Assistant is the assistant version the call ran with; Analysis its
	// analysis's fields, in the schema's order.
	Assistant storage.AssistantRef
	Analysis  []Field
	// Timeline is Twilio's status reports and the transfers' steps, in
	// time order.
	Timeline   []Event
	Turns      []Turn
	Failures   int
	Summary    *storage.Summary
	Recordings []Recording
}

// Turn is one utterance of the transcript, with what happened to it.
type Turn struct {
	Number  int
	Caller  bool
	Speaker string
	Text    string
	At      time.Time
	// Error is why the assistant could not answer (the caller heard an
	// apology).
	Error string
	// EndsCall: the assistant said goodbye and hung up.
	EndsCall bool
	// Confidence is the speech recogniser's confidence in a caller turn,
	// as a percentage ("" when unknown).
	Confidence string
	// Latency is how long the caller waited for this answer ("" when
	// unknown): for a streamed reply, until its first words left for
	// Twilio; else until the whole answer was stored.
	Latency string
	// LatencyDetail breaks a streamed reply's latency down (the model's
	// first token, the first and the last words sent).
	LatencyDetail string
	// Interrupted: the caller talked over this reply; Text is what they
	// heard of it.
	Interrupted bool
	// Tools are the business tools called to make this answer.
	Tools []ToolCall
	// Transfer is the transfer this answer asked for.
	Transfer *Transfer
}

// ToolCall is one call of a business tool, as the console shows it.
type ToolCall struct {
	Name      string
	Arguments string
	// Result is the tool's JSON answer; Error why there is none.
	Result string
	Error  string
	Took   string
}

// Transfer is a transfer to a person and how it went.
type Transfer struct {
	Target string
	Mode   storage.TransferMode
	// Outcome says how it went, in words: "connected, talked 1 min 2 s",
	// "busy: the caller came back", "ringing".
	Outcome   string
	Connected bool
	// Leg is the target's call leg, linked to this call.
	Leg string
}

// Recording is a recording of the call and where its audio can be heard.
type Recording struct {
	SID       string
	State     storage.RecordingState
	Duration  int
	Audio     string // the console's audio URL when the audio is stored
	LastError string
	Attempts  int
}

// NewCall builds the call page. audio returns the console's URL of a
// stored recording's audio.
func NewCall(c storage.Call, audio func(recordingSID string) string) Call {
	page := Call{Row: Rows([]storage.Call{c})[0], Timeline: timeline(c), Summary: c.Summary, Assistant: c.Assistant}
	asked := map[int]time.Time{}
	for _, t := range c.Turns {
		v := Turn{Number: t.Number, Caller: t.Role == storage.RoleCaller, Text: t.Text, At: t.CreatedAt,
			Error: t.Error, EndsCall: t.EndsCall, Interrupted: t.Interrupted}
		if v.Caller {
			v.Speaker = "Caller"
			asked[t.Number] = t.CreatedAt
			if t.Confidence >= 0 && t.Confidence <= 1 {
				v.Confidence = fmt.Sprintf("%.0f%%", t.Confidence*100)
			}
		} else {
			v.Speaker = "Assistant"
			switch l := t.Latency; {
			case l != nil:
				if l.FirstTextMS >= 0 {
					v.Latency = formatLatency(msDuration(l.FirstTextMS))
				}
				v.LatencyDetail = "first token " + stage(l.FirstTokenMS) + ", first words sent " + stage(l.FirstTextMS) +
					", last words sent " + stage(l.LastTextMS)
			default:
				if at, ok := asked[t.Number]; ok && !t.CreatedAt.Before(at) {
					v.Latency = formatLatency(t.CreatedAt.Sub(at))
				}
			}
		}
		for _, tc := range t.ToolCalls {
			v.Tools = append(v.Tools, ToolCall{Name: tc.Name, Arguments: clip(string(tc.Arguments)), Result: clip(string(tc.Result)),
				Error: tc.Error, Took: formatLatency(msDuration(tc.DurationMS))})
		}
		if tr := t.Transfer; tr != nil && !v.Caller {
			v.Transfer = &Transfer{Target: tr.Target, Mode: tr.Mode, Outcome: transferOutcome(*tr), Connected: tr.Connected(), Leg: tr.ChildCallSID}
		}
		if v.Error != "" {
			page.Failures++
		}
		page.Turns = append(page.Turns, v)
	}
	for _, r := range c.Recordings {
		v := Recording{SID: r.SID, State: r.State, Duration: r.Duration, LastError: r.LastError, Attempts: r.Attempts}
		if r.State == storage.RecordingStored {
			v.Audio = audio(r.SID)
		}
		page.Recordings = append(page.Recordings, v)
	}
	return page
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// stage shows one stage of a streamed reply's latency; -1 means it never
// happened (the caller interrupted first).
func stage(ms float64) string {
	if ms < 0 {
		return "never"
	}
	return formatLatency(msDuration(ms))
}

func formatLatency(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func orUnknown(n string) string {
	if n == "" {
		return "unknown"
	}
	return n
}

// SignIn is the sign-in page.
type SignIn struct {
	// Nonce is the sign-in form's token against cross-site requests.
	Nonce string
	Next  string
	Error string
	// Open: no API token is configured (development), so any token, or
	// none, signs in.
	Open bool
}

// Delete is the page that asks to confirm a deletion.
type Delete struct {
	Row CallRow
}

// Problem is an error page.
type Problem struct {
	Status  int
	Message string
	// SignIn offers a link to sign in again.
	SignIn bool
}

// Live is the list of calls in progress.
type Live struct {
	Rows []CallRow
	At   time.Time
}

// transferOutcome says in words where a transfer stands.
func transferOutcome(tr storage.Transfer) string {
	switch {
	case tr.Connected():
		return "connected, talked " + secsText(tr.TalkSeconds)
	case tr.Ended():
		return strings.ReplaceAll(tr.Status, "-", " ") + ": the caller came back to the assistant"
	case tr.Status == storage.TransferAnswered:
		return "answered, hearing the summary"
	}
	return "ringing"
}

// secsText is a number of seconds as "1 min 2 s".
func secsText(n int) string {
	if n < 60 {
		return fmt.Sprintf("%d s", n)
	}
	return fmt.Sprintf("%d min %d s", n/60, n%60)
}

// clip shortens a tool's JSON for the page: the API has it whole.
func clip(s string) string {
	const limit = 300
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Event is one entry of a call's timeline: a status Twilio reported, or a
// step of a transfer (Status empty, Text says it).
type Event struct {
	Status storage.CallStatus
	Text   string
	At     time.Time
}

// timeline merges the call's status reports with its transfers' steps:
// requested, answered by the target (its call leg), ended.
func timeline(c storage.Call) []Event {
	var events []Event
	for _, e := range c.Timeline {
		events = append(events, Event{Status: e.Status, At: e.At})
	}
	for _, tr := range c.Transfers {
		events = append(events, Event{Text: fmt.Sprintf("transfer to %s (%s) requested", tr.Target, tr.Mode), At: tr.RequestedAt})
		if tr.AnsweredAt != nil {
			text := tr.Target + " answered"
			if tr.ChildCallSID != "" {
				text += " on call leg " + tr.ChildCallSID
			}
			events = append(events, Event{Text: text, At: *tr.AnsweredAt})
		}
		if tr.EndedAt != nil {
			events = append(events, Event{Text: "transfer to " + tr.Target + " ended: " + transferOutcome(tr), At: *tr.EndedAt})
		}
	}
	slices.SortStableFunc(events, func(a, b Event) int { return a.At.Compare(b.At) })
	return events
}
