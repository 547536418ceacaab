package handlers_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// TestBadWebhooks sends malformed webhooks; each gets a clear 4xx and
// changes nothing.
func TestBadWebhooks(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)
	if r := in.Webhook("/twilio/voice", call.Form()); r.Status != http.StatusOK {
		t.Fatalf("voice: %d", r.Status)
	}
	before := in.GetCall(call.CallSID)
	recSID := twiliotest.SID("RE")
	with := func(kv ...string) url.Values { return call.Form(kv...) }
	without := func(name string) url.Values { f := call.Form(); f.Del(name); return f }

	cases := []struct {
		name, path string
		form       url.Values
		status     int
		msg        string
	}{
		{"MalformedCallSid", "/twilio/voice", with("CallSid", "CA123"), 400, "CallSid must be CA"},
		{"CallSidWrongPrefix", "/twilio/voice", with("CallSid", "RE"+strings.Repeat("a", 32)), 400, "CallSid"},
		{"MissingCallSid", "/twilio/voice", without("CallSid"), 400, "missing parameter CallSid"},
		{"MissingAccountSid", "/twilio/status", without("AccountSid"), 400, "AccountSid"},
		{"UnknownStatus", "/twilio/status", with("CallStatus", "exploded"), 400, "unknown call status"},
		{"MissingStatus", "/twilio/status", call.Form(), 400, "missing parameter CallStatus"},
		{"BadDuration", "/twilio/status", with("CallStatus", "completed", "CallDuration", "-3"), 400, "CallDuration"},
		{"BadTimestamp", "/twilio/status", with("CallStatus", "completed", "Timestamp", "yesterday"), 400, "Timestamp"},
		{"TurnZero", "/twilio/gather?turn=0", with("SpeechResult", "hi"), 400, "turn"},
		{"TurnMissing", "/twilio/gather", with("SpeechResult", "hi"), 400, "turn"},
		{"TurnNotNumber", "/twilio/gather?turn=abc", with("SpeechResult", "hi"), 400, "turn"},
		{"TurnTooFarAhead", "/twilio/gather?turn=7", with("SpeechResult", "hi"), 409, "before turn"},
		{"BadConfidence", "/twilio/gather?turn=1", with("SpeechResult", "hi", "Confidence", "7"), 400, "Confidence"},
		{"HugeSpeech", "/twilio/gather?turn=1", with("SpeechResult", strings.Repeat("a", storage.MaxTurnText+1)), 400, "SpeechResult"},
		{"RecordingForeignHost", "/twilio/recording", with("RecordingSid", recSID, "RecordingStatus", "completed",
			"RecordingUrl", "https://evil.example.com/2010-04-01/Accounts/"+call.AccountSID+"/Recordings/"+recSID), 400, "RecordingUrl must be on"},
		{"RecordingOtherRecording", "/twilio/recording", with("RecordingSid", recSID, "RecordingStatus", "completed",
			"RecordingUrl", in.Media.RecordingURL(twiliotest.SID("RE"))), 400, "does not name recording"},
		{"RecordingPathTraversal", "/twilio/recording", with("RecordingSid", recSID, "RecordingStatus", "completed",
			"RecordingUrl", in.Media.URL+"/2010-04-01/Accounts/"+call.AccountSID+"/Recordings/../../../etc/passwd"), 400, "RecordingUrl"},
		{"RecordingBadSid", "/twilio/recording", with("RecordingSid", "RE../../x", "RecordingStatus", "completed"), 400, "RecordingSid"},
		{"RecordingUnknownStatus", "/twilio/recording", with("RecordingSid", recSID, "RecordingStatus", "lost"), 400, "RecordingStatus"},
		{"RecordingNoURL", "/twilio/recording", with("RecordingSid", recSID, "RecordingStatus", "completed"), 400, "RecordingUrl"},
		{"RecordingBadChannels", "/twilio/recording", with("RecordingSid", recSID, "RecordingStatus", "completed",
			"RecordingUrl", in.Media.RecordingURL(recSID), "RecordingChannels", "9"), 400, "RecordingChannels"},
		{"LongFrom", "/twilio/voice", with("From", strings.Repeat("1", 100)), 400, "From"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := in.Webhook(tc.path, tc.form)
			if r.Status != tc.status || !strings.Contains(r.Body, tc.msg) {
				t.Fatalf("got %d %s, want %d mentioning %q", r.Status, r.Body, tc.status, tc.msg)
			}
			if !strings.Contains(r.Body, `"error":{"code":`) {
				t.Errorf("error body shape: %s", r.Body)
			}
		})
	}

	raw := func(name, contentType, body string, status int) {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, in.URL+"/twilio/voice", strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("X-Twilio-Signature", "irrelevant")
			if r := in.Do(req); r.Status != status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, status)
			}
		})
	}
	raw("JSONBody", "application/json", `{"CallSid":"`+call.CallSID+`"}`, http.StatusUnsupportedMediaType)
	raw("OversizedBody", "application/x-www-form-urlencoded", "a="+strings.Repeat("x", 70<<10), http.StatusRequestEntityTooLarge)
	raw("BrokenForm", "application/x-www-form-urlencoded", "CallSid=%zz", http.StatusBadRequest)

	after := in.GetCall(call.CallSID)
	if len(after.Turns) != len(before.Turns) || len(after.Recordings) != 0 || after.Status != before.Status || len(after.Timeline) != len(before.Timeline) {
		t.Errorf("bad input changed the call: before %+v\nafter %+v", before, after)
	}
	page, err := in.Calls.ListCalls(t.Context(), storage.CallFilter{})
	if err != nil || len(page.Calls) != 1 {
		t.Errorf("bad input created calls: %d, %v", len(page.Calls), err)
	}
}

func TestBadAPIRequests(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)
	in.Webhook("/twilio/voice", call.Form())

	auth := func(name, header string) {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/calls", nil)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			r := in.Do(req)
			if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, `"code":"unauthorized"`) {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
	auth("MissingToken", "")
	auth("UnknownToken", "Bearer not-the-token-0123456789")
	auth("BasicScheme", "Basic "+servicetest.APIToken)
	auth("TokenPrefix", "Bearer "+servicetest.APIToken[:10])

	cases := []struct {
		name, method, path string
		status             int
	}{
		{"BadSid", "GET", "/api/v1/calls/CA..%2F..%2Fetc", 400},
		{"UnknownCall", "GET", "/api/v1/calls/CA" + strings.Repeat("0", 32), 404},
		{"BadStatusFilter", "GET", "/api/v1/calls?status=exploded", 400},
		{"BadSince", "GET", "/api/v1/calls?since=yesterday", 400},
		{"BadLimit", "GET", "/api/v1/calls?limit=-1", 400},
		{"LimitZero", "GET", "/api/v1/calls?limit=0", 400},
		{"LimitOverMax", "GET", "/api/v1/calls?limit=201", 400},
		{"LimitHuge", "GET", "/api/v1/calls?limit=99999999999999999999", 400},
		{"CursorTimeTooLate", "GET", "/api/v1/calls?cursor=" + storageCursor("9223372036854775807"), 400},
		{"CursorTimeTooEarly", "GET", "/api/v1/calls?cursor=" + storageCursor("-9223372036854775808"), 400},
		{"BadCursor", "GET", "/api/v1/calls?cursor=not-a-cursor", 400},
		{"NumberTooShort", "GET", "/api/v1/calls?number=123", 400},
		{"NumberNotDigits", "GET", "/api/v1/calls?number=555-CALL", 400},
		{"BadRecordingSid", "GET", "/api/v1/calls/" + call.CallSID + "/recordings/RE..%2Fx/audio", 400},
		{"UnknownRecording", "GET", "/api/v1/calls/" + call.CallSID + "/recordings/RE" + strings.Repeat("0", 32) + "/audio", 404},
		{"DeleteUnknown", "DELETE", "/api/v1/calls/CA" + strings.Repeat("0", 32), 404},
		{"UnknownRoute", "GET", "/api/v1/nothing", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := in.API(tc.method, tc.path)
			if r.Status != tc.status || !strings.Contains(r.Body, `"error":{"code":`) {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	t.Run("OKNumber", func(t *testing.T) {
		for _, q := range []string{"+" + call.From[1:], "%2B" + call.From[1:], call.From[len(call.From)-4:]} {
			r := in.API("GET", "/api/v1/calls?number="+q)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, call.CallSID) {
				t.Errorf("number=%s: %d %s", q, r.Status, r.Body)
			}
		}
		if r := in.API("GET", "/api/v1/calls?number=00000"); r.Status != http.StatusOK || strings.Contains(r.Body, call.CallSID) {
			t.Errorf("number=00000: %d %s", r.Status, r.Body)
		}
	})
	t.Run("OKLimitMax", func(t *testing.T) {
		if r := in.API("GET", "/api/v1/calls?limit=200"); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	if n := len(in.GetCall(call.CallSID).Turns); n != 1 {
		t.Errorf("bad API requests changed the call: %d turns", n)
	}
}

// storageCursor builds a cursor in the stores' encoding with the given
// microsecond time, as a client could forge one.
func storageCursor(micros string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(micros + "|CA" + strings.Repeat("0", 32)))
}
