package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// request is one signed webhook, ready to send: the bytes of the whole
// HTTP request, as a load balancer would forward it.
type request struct {
	path string
	wire []byte
	want int
}

func signed(path string, form url.Values, want int) request {
	body := form.Encode()
	sig := twiliotest.Sign(servicetest.AuthToken, servicetest.PublicBaseURL+path, form)
	host := strings.TrimPrefix(servicetest.PublicBaseURL, "https://")
	wire := "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"X-Twilio-Signature: " + sig + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	return request{path: path, wire: []byte(wire), want: want}
}

func callOf(sid string) twiliotest.Call {
	return twiliotest.Call{AccountSID: servicetest.AccountSID, CallSID: sid, From: "+14155550100", To: "+18005550100"}
}

// turnsPerCall is how many caller turns a call has, in the throughput runs
// and in the mixed traffic alike.
const turnsPerCall = 4

// The webhooks of one inbound call, as Twilio sends them.

func incomingRequest(sid string) request {
	return signed("/twilio/voice", callOf(sid).Form("CallStatus", "ringing"), http.StatusOK)
}

// statusRequest is a call-progress callback; seq is its SequenceNumber.
func statusRequest(sid, status string, seq int) request {
	extra := []string{"CallStatus", status, "SequenceNumber", strconv.Itoa(seq), "CallbackSource", "call-progress-events",
		"Timestamp", time.Now().UTC().Format(time.RFC1123Z)}
	if status == "completed" {
		extra = append(extra, "CallDuration", "42", "Duration", "1")
	}
	return signed("/twilio/status", callOf(sid).Form(extra...), http.StatusNoContent)
}

// turnRequest is caller turn n of the call, as the <Gather> action sends it.
func turnRequest(sid string, n int) request {
	return signed("/twilio/gather?turn="+strconv.Itoa(n), callOf(sid).Form("SpeechResult", "Where are you located?",
		"Confidence", "0.91", "CallStatus", "in-progress"), http.StatusOK)
}

// recordingRequest is the whole-call recording's completed callback.
func recordingRequest(sid string) request {
	rec := "RE" + sid[2:]
	return signed("/twilio/recording", callOf(sid).Form("RecordingSid", rec, "RecordingStatus", "completed",
		"RecordingDuration", "42", "RecordingChannels", "2", "RecordingSource", "StartCallRecording",
		"RecordingUrl", service.Defaults().TwilioAPIBaseURL+"/2010-04-01/Accounts/"+servicetest.AccountSID+"/Recordings/"+rec),
		http.StatusNoContent)
}

// callSteps are the webhooks of one call in the order Twilio sends them:
// the incoming call, its ringing and answered progress, four turns, the
// end of the call and its recording.
var callSteps = []struct {
	kind string
	make func(sid string) request
}{
	{"incoming call", incomingRequest},
	{"status callback", func(sid string) request { return statusRequest(sid, "ringing", 0) }},
	{"status callback", func(sid string) request { return statusRequest(sid, "in-progress", 1) }},
	{"speech turn", func(sid string) request { return turnRequest(sid, 1) }},
	{"speech turn", func(sid string) request { return turnRequest(sid, 2) }},
	{"speech turn", func(sid string) request { return turnRequest(sid, 3) }},
	{"speech turn", func(sid string) request { return turnRequest(sid, 4) }},
	{"status callback", func(sid string) request { return statusRequest(sid, "completed", 2) }},
	{"recording callback", recordingRequest},
}
