package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"switchboard/handlers"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	s3store "switchboard/storage/s3"
	"switchboard/storage/s3/s3test"
)

// The OpenAPI document is checked the only way that keeps it honest: real
// requests to every route of a running instance, successes and failures,
// each response validated against the document by libopenapi-validator
// (an OpenAPI 3.1 validator on JSON Schema 2020-12), and every route of the
// app's route table both described and exercised.

// exchange is one request and its response, bodies kept.
type exchange struct {
	method, path string
	reqHeader    http.Header
	reqBody      []byte
	url          string
	status       int
	respHeader   http.Header
	respBody     []byte
}

// recorder keeps every exchange with one instance.
type recorder struct {
	host string
	base http.RoundTripper
	mu   sync.Mutex
	ex   []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil || req.URL.Host != r.host {
		return resp, err
	}
	rb, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	r.mu.Lock()
	r.ex = append(r.ex, exchange{method: req.Method, path: req.URL.Path, url: req.URL.String(), reqHeader: req.Header.Clone(), reqBody: body,
		status: resp.StatusCode, respHeader: resp.Header.Clone(), respBody: rb})
	r.mu.Unlock()
	return resp, nil
}

// record makes in's client keep its exchanges, without following redirects
// (a 302's Location leaves the API).
func record(in *servicetest.Instance) *recorder {
	u, _ := url.Parse(in.URL)
	r := &recorder{host: u.Host, base: http.DefaultTransport}
	in.HTTP.Transport = r
	in.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return r
}

func openAPIValidator(t *testing.T) validator.Validator {
	t.Helper()
	doc, err := libopenapi.NewDocument(handlers.OpenAPIDocument())
	if err != nil {
		t.Fatalf("parsing the OpenAPI document: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("the document: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	return v
}

// TestOpenAPIDocument validates real responses of every route.
func TestOpenAPIDocument(t *testing.T) {
	v := openAPIValidator(t)
	in := servicetest.Start(t, servicetest.Options{})
	rec := record(in)
	exercise(t, in)

	// A blob store that presigns: the audio route's 302.
	f := s3test.New(t)
	blobs, err := s3store.NewWithClient(f.Client(0), s3store.Config{Bucket: s3test.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	s3in := servicetest.Start(t, servicetest.Options{Blobs: blobs})
	s3rec := record(s3in)
	call := twiliotest.NewCall(servicetest.AccountSID)
	s3in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing"))
	storedRecording(t, s3in, call)
	sid := s3in.GetCall(call.CallSID).Recordings[0].SID
	wantStatus(t, "audio on S3", s3in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/"+sid+"/audio"), http.StatusFound)

	all := append(rec.ex, s3rec.ex...)
	covered := map[string]map[int]bool{} // "METHOD /route" → statuses
	routes := in.Service.App.GetRoutes(true)
	for _, ex := range all {
		req, err := http.NewRequest(ex.method, ex.url, bytes.NewReader(ex.reqBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = ex.reqHeader.Clone()
		resp := &http.Response{StatusCode: ex.status, Header: ex.respHeader.Clone(), Body: io.NopCloser(bytes.NewReader(ex.respBody)), Request: req}
		if ok, verrs := v.ValidateHttpResponse(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s → %d: %s: %s (%s)", ex.method, ex.path, ex.status, e.Message, e.Reason, truncate(string(ex.respBody), 300))
			}
		}
		route := routeOf(routes, ex.method, ex.path)
		if route == "" {
			t.Errorf("%s %s matched no route", ex.method, ex.path)
			continue
		}
		if covered[route] == nil {
			covered[route] = map[int]bool{}
		}
		covered[route][ex.status] = true
	}
	spec := specOperations(t)
	for _, r := range routes {
		if r.Method == http.MethodHead || r.Path == "/" {
			continue
		}
		if r.Path == "/console" || strings.HasPrefix(r.Path, "/console/") {
			// The console's pages are HTML for browsers, not the API:
			// console_*_test.go and e2e/console_test.go test them.
			continue
		}
		key := r.Method + " " + r.Path
		if !spec[r.Method+" "+openAPIPath(r.Path)] {
			t.Errorf("route %s is not in the OpenAPI document", key)
		}
		if len(covered[key]) == 0 {
			t.Errorf("route %s was not exercised", key)
		}
	}
	for key := range spec {
		found := false
		for _, r := range routes {
			found = found || r.Method+" "+openAPIPath(r.Path) == key
		}
		if !found {
			t.Errorf("the OpenAPI document describes %s, which is not routed", key)
		}
	}
	var keys []string
	for k, statuses := range covered {
		var s []string
		for st := range statuses {
			s = append(s, http.StatusText(st))
		}
		slices.Sort(s)
		keys = append(keys, k+": "+strings.Join(s, ", "))
	}
	slices.Sort(keys)
	t.Logf("validated %d responses:\n%s", len(all), strings.Join(keys, "\n"))
}

// exercise sends requests to every route: successes and the failures
// each answers with.
func exercise(t *testing.T, in *servicetest.Instance) {
	t.Helper()
	expect := func(what string, r servicetest.Response, status int) {
		t.Helper()
		wantStatus(t, what, r, status)
	}
	// Operations.
	expect("healthz", in.API(http.MethodGet, "/healthz"), 200)
	expect("readyz", in.API(http.MethodGet, "/readyz"), 200)
	expect("metrics", in.API(http.MethodGet, "/metrics"), 200)
	expect("openapi", in.API(http.MethodGet, "/api/v1/openapi.json"), 200)
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/openapi.json", nil)
	expect("openapi without a token", in.Do(req), 401)

	// Event endpoints: one receives every event of the calls below, so
	// its delivery log has entries by the end.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	created := in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "`+receiver.URL+`/events", "events": ["call.started", "call.ended", "call.summarized", "recording.stored", "transfer.completed", "call.deleted"]}`)
	expect("webhook", created, 201)
	hook := "/api/v1/webhooks/" + decodeAs[storage.Endpoint](t, created).ID
	expect("webhook invalid", in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "ftp://x", "events": ["call.exploded"], "extra": 1}`), 400)
	expect("webhook text", in.Send(http.MethodPost, "/api/v1/webhooks", `{}`, "Content-Type", "text/plain"), 415)
	expect("webhooks", in.Send(http.MethodGet, "/api/v1/webhooks", ""), 200)
	expect("get webhook", in.Send(http.MethodGet, hook, ""), 200)
	expect("get no webhook", in.Send(http.MethodGet, "/api/v1/webhooks/ep_000000000000000000000000", ""), 404)
	expect("patch webhook", in.Send(http.MethodPatch, hook, `{"enabled": false}`), 200)
	expect("patch webhook back", in.Send(http.MethodPatch, hook, `{"enabled": true}`, "Content-Type", "application/merge-patch+json"), 200)
	expect("patch webhook invalid", in.Send(http.MethodPatch, hook, `{"url": "https://example.com"}`), 400)
	expect("patch webhook text", in.Send(http.MethodPatch, hook, `{"enabled": true}`, "Content-Type", "text/plain"), 415)
	expect("patch no webhook", in.Send(http.MethodPatch, "/api/v1/webhooks/ep_000000000000000000000000", `{"enabled": true}`), 404)
	expect("deliveries bad limit", in.Send(http.MethodGet, hook+"/deliveries?limit=0", ""), 400)
	expect("deliveries no webhook", in.Send(http.MethodGet, "/api/v1/webhooks/ep_000000000000000000000000/deliveries", ""), 404)
	spare := in.Send(http.MethodPost, "/api/v1/webhooks", `{"url": "https://example.com/hooks", "events": ["call.deleted"]}`)
	expect("spare webhook", spare, 201)
	expect("delete webhook", in.Send(http.MethodDelete, "/api/v1/webhooks/"+decodeAs[storage.Endpoint](t, spare).ID, ""), 204)
	expect("delete no webhook", in.Send(http.MethodDelete, "/api/v1/webhooks/"+decodeAs[storage.Endpoint](t, spare).ID, ""), 404)
	defer func() {
		servicetest.Eventually(t, 10*time.Second, "deliveries logged", func() bool {
			return len(decodeAs[storage.DeliveryPage](t, in.Send(http.MethodGet, hook+"/deliveries?limit=200", "")).Deliveries) > 0
		})
		expect("deliveries", in.Send(http.MethodGet, hook+"/deliveries?limit=2", ""), 200)
	}()

	// Assistants and numbers.
	a := createAssistant(t, in, dentalJSON)
	path := "/api/v1/assistants/" + a.ID
	expect("create invalid", in.Send(http.MethodPost, "/api/v1/assistants", `{"name": ""}`), 400)
	expect("create text", in.Send(http.MethodPost, "/api/v1/assistants", dentalJSON, "Content-Type", "text/plain"), 415)
	expect("list", in.Send(http.MethodGet, "/api/v1/assistants", ""), 200)
	expect("get", in.Send(http.MethodGet, path, ""), 200)
	expect("get default", in.Send(http.MethodGet, "/api/v1/assistants/default", ""), 200)
	expect("get unknown", in.Send(http.MethodGet, "/api/v1/assistants/as_0", ""), 404)
	expect("version", in.Send(http.MethodGet, path+"/versions/1", ""), 200)
	expect("version unknown", in.Send(http.MethodGet, path+"/versions/7", ""), 404)
	expect("put without If-Match", in.Send(http.MethodPut, path, dentalJSON), 428)
	expect("put", in.Send(http.MethodPut, path, dentalJSON, "If-Match", `"v1"`), 200)
	expect("put stale", in.Send(http.MethodPut, path, dentalJSON, "If-Match", `"v1"`), 412)
	expect("put invalid", in.Send(http.MethodPut, path, `{"name": 1}`, "If-Match", `"v2"`), 400)
	expect("put default", in.Send(http.MethodPut, "/api/v1/assistants/default", dentalJSON, "If-Match", `"v0"`), 409)
	expect("patch", in.Send(http.MethodPatch, path, `{"greeting": "Hi!"}`, "If-Match", `"v2"`, "Content-Type", "application/merge-patch+json"), 200)
	expect("patch without If-Match", in.Send(http.MethodPatch, path, `{"greeting": "Hi!"}`), 428)
	expect("patch stale", in.Send(http.MethodPatch, path, `{"greeting": "Hi!"}`, "If-Match", `"v2"`), 412)
	expect("patch invalid", in.Send(http.MethodPatch, path, `{"call_mode": "x"}`, "If-Match", `"v3"`), 400)
	expect("patch unknown", in.Send(http.MethodPatch, "/api/v1/assistants/as_000000000000000000000000", `{}`, "If-Match", `"v1"`), 404)
	expect("number", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+18005550100", "assistant_id": "`+a.ID+`"}`), 201)
	expect("number again", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+18005550100", "assistant_id": "`+a.ID+`"}`), 409)
	expect("number invalid", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "x"}`), 400)
	expect("number to nobody", in.Send(http.MethodPost, "/api/v1/numbers", `{"number": "+18005550101", "assistant_id": "as_000000000000000000000000"}`), 404)
	expect("numbers", in.Send(http.MethodGet, "/api/v1/numbers", ""), 200)
	expect("get number", in.Send(http.MethodGet, "/api/v1/numbers/%2B18005550100", ""), 200)
	expect("get no number", in.Send(http.MethodGet, "/api/v1/numbers/+18005550199", ""), 404)
	expect("delete routed", in.Send(http.MethodDelete, path, "", "If-Match", `"v3"`), 409)
	expect("delete without If-Match", in.Send(http.MethodDelete, path, ""), 428)
	expect("delete stale", in.Send(http.MethodDelete, path, "", "If-Match", `"v1"`), 412)

	// A call to the routed number, its turns, status, recording.
	call := twiliotest.NewCall(servicetest.AccountSID)
	expect("voice", in.Webhook("/twilio/voice", call.Form("CallStatus", "ringing")), 200)
	expect("gather", in.Webhook("/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "I want to book an appointment")), 200)
	expect("silence", in.Webhook("/twilio/gather?silence=1&turn=2", call.Form("CallStatus", "in-progress")), 200)
	expect("gather bad turn", in.Webhook("/twilio/gather?turn=x", call.Form("CallStatus", "in-progress")), 400)
	bad := servicetest.SignedRequest(t, in.URL, "/twilio/voice", call.Form())
	bad.Header.Set("X-Twilio-Signature", "forged")
	expect("voice forged", in.Do(bad), 403)
	plain, _ := http.NewRequest(http.MethodPost, in.URL+"/twilio/status", strings.NewReader("{}"))
	plain.Header.Set("Content-Type", "application/json")
	plain.Header.Set("X-Twilio-Signature", "x")
	expect("status as JSON", in.Do(plain), 415)
	// The server answers 413 and closes the connection while the client
	// may still be writing the body: a reset then hides the answer, so
	// this is tried until the answer is read.
	tooLarge := 0
	for try := 0; try < 10 && tooLarge == 0; try++ {
		big := servicetest.SignedRequest(t, in.URL, "/twilio/status", url.Values{"a": {strings.Repeat("x", 70<<10)}})
		if resp, err := in.HTTP.Do(big); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			tooLarge = resp.StatusCode
		}
	}
	if tooLarge != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized webhook: %d, want 413", tooLarge)
	}
	expect("fallback", in.Webhook("/twilio/fallback", call.Form("ErrorCode", "11200")), 200)
	expect("relay action", in.Webhook("/twilio/relay/action", call.Form("SessionStatus", "ended",
		"HandoffData", `{"reason": "end_call", "turn": 3, "farewell": "Bye now.", "language": "en-GB", "voice": "Polly.Amy-Neural"}`)), 200)
	expect("relay action bad", in.Webhook("/twilio/relay/action", url.Values{"SessionStatus": {"failed"}}), 400)
	expect("relay socket without an upgrade", in.API(http.MethodGet, "/twilio/relay/"+call.CallSID), 426)

	// A transfer: the whisper of the target's leg and the <Dial action>.
	tcall, _ := routedCall(t, in, actingJSON("http://127.0.0.1:1/unused", "1s"))
	expect("transfer turn", in.Webhook("/twilio/gather?turn=1", tcall.Form("CallStatus", "in-progress", "SpeechResult", "transfer me to sales")), 200)
	child := twiliotest.NewCall(servicetest.AccountSID)
	expect("whisper", in.Webhook("/twilio/whisper?call="+tcall.CallSID+"&turn=1", child.Form("ParentCallSid", tcall.CallSID)), 200)
	expect("whisper bad", in.Webhook("/twilio/whisper?call=x&turn=1", child.Form()), 400)
	expect("dial action", in.Webhook("/twilio/transfer?turn=1", tcall.Form("DialCallStatus", "no-answer")), 200)
	expect("dial action bad", in.Webhook("/twilio/transfer?turn=1", tcall.Form("DialCallStatus", "x")), 400)
	expect("dial action unknown", in.Webhook("/twilio/transfer?turn=9", tcall.Form("DialCallStatus", "busy")), 404)
	expect("tool turn", in.Webhook("/twilio/gather?turn=2", tcall.Form("CallStatus", "in-progress", "SpeechResult", `use order_status {"order": "A-1"}`)), 200)
	expect("call with a transfer and a tool call", in.API(http.MethodGet, "/api/v1/calls/"+tcall.CallSID), 200)
	expect("delete live call", in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID), 409)
	pendingRec := twiliotest.SID("RE")
	in.Media.Fail(pendingRec, twiliotest.Fault{Status: 404})
	in.Webhook("/twilio/recording", call.Form("RecordingSid", pendingRec, "RecordingUrl", in.Media.RecordingURL(pendingRec),
		"RecordingStatus", "completed", "RecordingDuration", "3", "RecordingChannels", "2"))
	expect("audio pending", in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/"+pendingRec+"/audio"), 409)
	expect("recording bad", in.Webhook("/twilio/recording", call.Form("RecordingSid", "nope", "RecordingStatus", "completed")), 400)
	rec := storedRecording(t, in, call)
	audio := "/api/v1/calls/" + call.CallSID + "/recordings/" + rec + "/audio"
	expect("audio", in.API(http.MethodGet, audio), 200)
	ranged, _ := http.NewRequest(http.MethodGet, in.URL+audio, nil)
	ranged.Header.Set("Authorization", "Bearer "+servicetest.APIToken)
	ranged.Header.Set("Range", "bytes=0-9")
	expect("audio range", in.Do(ranged), 206)
	ranged.Header.Set("Range", "bytes=999999999-")
	expect("audio bad range", in.Do(ranged), 416)
	expect("audio unknown", in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/"+twiliotest.SID("RE")+"/audio"), 404)
	expect("audio bad sid", in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID+"/recordings/x/audio"), 400)
	expect("status", in.Webhook("/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42")), 204)
	servicetest.Eventually(t, 10*time.Second, "the call's analysis", func() bool { return in.GetCall(call.CallSID).Analysis != nil })

	// Calls.
	expect("calls", in.API(http.MethodGet, "/api/v1/calls?limit=1"), 200)
	expect("calls filtered", in.API(http.MethodGet, "/api/v1/calls?assistant="+a.ID+"&analysis.booked=true&status=completed"), 200)
	expect("calls bad filter", in.API(http.MethodGet, "/api/v1/calls?status=sleeping"), 400)
	expect("call", in.API(http.MethodGet, "/api/v1/calls/"+call.CallSID), 200)
	expect("call unknown", in.API(http.MethodGet, "/api/v1/calls/"+twiliotest.SID("CA")), 404)
	expect("call bad sid", in.API(http.MethodGet, "/api/v1/calls/x"), 400)

	// Re-analysis.
	r := in.Send(http.MethodPost, path+"/reanalyze", `{"since": null}`)
	expect("reanalyze", r, 202)
	run := decodeAs[storage.AnalysisRun](t, r)
	servicetest.Eventually(t, 10*time.Second, "the run", func() bool {
		return decodeAs[storage.AnalysisRun](t, in.Send(http.MethodGet, r.Header.Get("Location"), "")).Status == storage.RunCompleted
	})
	_ = run
	expect("reanalyze default", in.Send(http.MethodPost, "/api/v1/assistants/default/reanalyze", ""), 409)
	expect("reanalyze invalid", in.Send(http.MethodPost, path+"/reanalyze", `{"since": 1}`), 400)
	expect("reanalyze unknown", in.Send(http.MethodPost, "/api/v1/assistants/as_000000000000000000000000/reanalyze", ""), 404)
	expect("run unknown", in.Send(http.MethodGet, "/api/v1/analysis-runs/424242", ""), 404)

	expect("delete call", in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID), 204)
	expect("delete call again", in.API(http.MethodDelete, "/api/v1/calls/"+call.CallSID), 404)
	expect("delete number", in.Send(http.MethodDelete, "/api/v1/numbers/+18005550100", ""), 204)
	expect("delete no number", in.Send(http.MethodDelete, "/api/v1/numbers/+18005550100", ""), 404)
	expect("delete", in.Send(http.MethodDelete, path, "", "If-Match", `"v3"`), 204)
}

// storedRecording completes a recording of call and waits for it to be
// archived; it returns its SID.
func storedRecording(t *testing.T, in *servicetest.Instance, call twiliotest.Call) string {
	t.Helper()
	recSID := twiliotest.SID("RE")
	in.Media.Add(recSID, bytes.Repeat([]byte("RIFF audio "), 100))
	wantStatus(t, "recording", in.Webhook("/twilio/recording", call.Form("RecordingSid", recSID, "RecordingUrl", in.Media.RecordingURL(recSID),
		"RecordingStatus", "completed", "RecordingDuration", "3", "RecordingChannels", "2")), http.StatusNoContent)
	servicetest.Eventually(t, 10*time.Second, "the recording stored", func() bool {
		for _, r := range in.GetCall(call.CallSID).Recordings {
			if r.SID == recSID {
				return r.State == storage.RecordingStored
			}
		}
		return false
	})
	return recSID
}

var paramRe = regexp.MustCompile(`:([a-z]+)`)

// openAPIPath writes a Fiber route pattern as an OpenAPI path template.
func openAPIPath(route string) string { return paramRe.ReplaceAllString(route, "{$1}") }

// routeOf finds the route pattern a request matched.
func routeOf(routes []fiber.Route, method, path string) string {
	for _, r := range routes {
		if r.Method != method || r.Path == "/" {
			continue
		}
		p := strings.Split(strings.Trim(r.Path, "/"), "/")
		q := strings.Split(strings.Trim(path, "/"), "/")
		if len(p) != len(q) {
			continue
		}
		match := true
		for i := range p {
			match = match && (strings.HasPrefix(p[i], ":") || p[i] == q[i])
		}
		if match {
			return r.Method + " " + r.Path
		}
	}
	return ""
}

// specOperations lists the document's operations as "METHOD /path".
func specOperations(t *testing.T) map[string]bool {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(handlers.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for p, methods := range doc.Paths {
		for m := range methods {
			ops[strings.ToUpper(m)+" "+p] = true
		}
	}
	return ops
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
