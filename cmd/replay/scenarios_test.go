package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"switchboard/handlers/fixture"
	"switchboard/handlers/twiliotest"
)

// The scenarios of testdata/webhooks, as Twilio would send them to the dev
// server. Every value is fixed (SIDs derived from names, times from one
// start), so generating twice gives the same bytes.

// sid is a stable, realistic SID: the prefix and 32 hex digits from a hash.
func sid(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(sum[:16])
}

var (
	accountSID = sid("AC", "switchboard-fixtures")
	ourNumber  = "+14155550100"
	callStart  = time.Date(2026, 11, 16, 14, 3, 7, 0, time.UTC)
)

// step is one webhook delivery of a scenario.
type step struct {
	path string
	form url.Values
	// contentType and rawBody replace the form body when set.
	contentType, rawBody string
	// sign overrides how the request is signed: token and URL; the form
	// signed may differ from the one sent (signedForm).
	token, signURL string
	signedForm     url.Values
	noSignature    bool
}

// call is one phone call of a scenario.
type call struct {
	sid, from, to, direction string
	geoFrom, geoTo           [4]string // city, state, zip, country
	seq                      int       // next status SequenceNumber
}

func inbound(name, from string, geo [4]string) *call {
	return &call{sid: sid("CA", name), from: from, to: ourNumber, direction: "inbound",
		geoFrom: geo, geoTo: [4]string{"SAN FRANCISCO", "CA", "94105", "US"}}
}

func outbound(name, to string, geo [4]string) *call {
	return &call{sid: sid("CA", name), from: ourNumber, to: to, direction: "outbound-api",
		geoFrom: [4]string{"SAN FRANCISCO", "CA", "94105", "US"}, geoTo: geo}
}

// params are what Twilio sends with every voice webhook of the call
// (CallToken left out: it is a credential).
func (c *call) params(status string) url.Values {
	f := url.Values{
		"AccountSid": {accountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {c.sid}, "CallStatus": {status},
		"Direction": {c.direction},
		"From":      {c.from}, "Caller": {c.from}, "To": {c.to}, "Called": {c.to},
	}
	for _, side := range []struct {
		names []string
		geo   [4]string
	}{
		{[]string{"From", "Caller"}, c.geoFrom},
		{[]string{"To", "Called"}, c.geoTo},
	} {
		for _, n := range side.names {
			f.Set(n+"City", side.geo[0])
			f.Set(n+"State", side.geo[1])
			f.Set(n+"Zip", side.geo[2])
			f.Set(n+"Country", side.geo[3])
		}
	}
	return f
}

func (c *call) voice() step {
	f := c.params("ringing")
	f.Set("StirVerstat", "TN-Validation-Passed-A")
	return step{path: "/twilio/voice", form: f}
}

func (c *call) gather(turn int, speech string, confidence string) step {
	f := c.params("in-progress")
	if speech != "" {
		f.Set("SpeechResult", speech)
		f.Set("Confidence", confidence)
	}
	return step{path: "/twilio/gather?turn=" + strconv.Itoa(turn), form: f}
}

func (c *call) silence(turn, n int) step {
	return step{path: fmt.Sprintf("/twilio/gather?silence=%d&turn=%d", n, turn), form: c.params("in-progress")}
}

// status is a call-progress callback; seq < 0 takes the call's next number,
// so a repeated delivery passes the number it repeats.
func (c *call) status(status string, seq int, at time.Duration, duration int) step {
	if seq < 0 {
		seq = c.seq
		c.seq++
	}
	f := c.params(status)
	f.Set("CallbackSource", "call-progress-events")
	f.Set("SequenceNumber", strconv.Itoa(seq))
	f.Set("Timestamp", callStart.Add(at).Format(time.RFC1123Z))
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		f.Set("CallDuration", strconv.Itoa(duration))
		f.Set("Duration", strconv.Itoa((duration+59)/60))
		f.Set("SipResponseCode", map[string]string{"completed": "200", "busy": "486", "no-answer": "487", "failed": "500", "canceled": "487"}[status])
	}
	return step{path: "/twilio/status", form: f}
}

func (c *call) recording(status string, duration int, recURL string) step {
	rsid := sid("RE", c.sid)
	f := url.Values{
		"AccountSid": {accountSID}, "CallSid": {c.sid}, "RecordingSid": {rsid},
		"RecordingStatus": {status}, "RecordingChannels": {"2"},
		"RecordingStartTime": {callStart.Add(time.Second).Format(time.RFC1123Z)},
		"RecordingSource":    {"StartCallRecordingTwiML"}, "RecordingTrack": {"both"},
	}
	if status == "completed" {
		if recURL == "" {
			recURL = "https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Recordings/" + rsid
		}
		f.Set("RecordingUrl", recURL)
		f.Set("RecordingDuration", strconv.Itoa(duration))
		f.Set("ErrorCode", "0")
	}
	return step{path: "/twilio/recording", form: f}
}

var (
	geoNY = [4]string{"NEW YORK", "NY", "10001", "US"}
	geoTX = [4]string{"AUSTIN", "TX", "78701", "US"}
	geoWA = [4]string{"SEATTLE", "WA", "98101", "US"}
	geoIL = [4]string{"CHICAGO", "IL", "60601", "US"}
	geoMA = [4]string{"BOSTON", "MA", "02108", "US"}
	geoCO = [4]string{"DENVER", "CO", "80202", "US"}
)

// scenarios returns every fixture set by folder name.
func scenarios() map[string][]step {
	s := map[string][]step{}

	c := inbound("whole-conversation", "+12125550147", geoNY)
	s["whole-conversation"] = []step{
		c.voice(),
		c.status("in-progress", -1, 2*time.Second, 0),
		c.gather(1, "What are your opening hours?", "0.9372412"),
		c.gather(2, "And where are you located?", "0.8841295"),
		c.gather(3, "No thanks, that's all. Goodbye.", "0.9120063"),
		c.status("completed", -1, 52*time.Second, 50),
		c.recording("completed", 48, ""),
	}

	c = inbound("caller-silence", "+15125550163", geoTX)
	s["caller-silence"] = []step{
		c.voice(),
		c.silence(1, 1),
		c.silence(1, 2),
		c.status("completed", -1, 19*time.Second, 17),
	}

	c = inbound("caller-hangs-up-mid-turn", "+12065550118", geoWA)
	late := c.gather(2, "Tuesday morning if", "0.6114783")
	late.form.Set("CallStatus", "completed")
	s["caller-hangs-up-mid-turn"] = []step{
		c.voice(),
		c.gather(1, "I'd like to book an appointment.", "0.9016534"),
		c.status("completed", -1, 24*time.Second, 22),
		late,
	}

	c = inbound("duplicated-and-out-of-order-status", "+13125550182", geoIL)
	s["duplicated-and-out-of-order-status"] = []step{
		c.voice(),
		c.status("completed", 2, 41*time.Second, 39),
		c.status("ringing", 0, 0, 0),
		c.status("in-progress", 1, 2*time.Second, 0),
		c.status("completed", 2, 41*time.Second, 39),
		c.status("in-progress", 1, 2*time.Second, 0),
	}

	c = inbound("recording-absent", "+16175550129", geoMA)
	s["recording-absent"] = []step{
		c.voice(),
		c.gather(1, "Sorry, wrong number. Bye.", "0.8803427"),
		c.status("completed", -1, 9*time.Second, 7),
		c.recording("absent", 0, ""),
		c.recording("absent", 0, ""),
	}

	busy := outbound("busy-no-answer/busy", "+17205550171", geoCO)
	noAnswer := outbound("busy-no-answer/no-answer", "+13035550194", geoCO)
	s["busy-no-answer"] = []step{
		busy.status("queued", -1, 0, 0),
		busy.status("ringing", -1, time.Second, 0),
		busy.status("busy", -1, 4*time.Second, 0),
		noAnswer.status("queued", -1, time.Minute, 0),
		noAnswer.status("ringing", -1, time.Minute+time.Second, 0),
		noAnswer.status("no-answer", -1, time.Minute+31*time.Second, 0),
	}

	c = inbound("invalid-signature", "+14085550136", geoCO)
	wrongToken := c.voice()
	wrongToken.token = "not-the-auth-token"
	tampered := c.voice()
	tampered.signedForm = c.voice().form
	tampered.form.Set("From", "+19005550111")
	unsigned := c.voice()
	unsigned.noSignature = true
	otherURL := c.status("completed", -1, 30*time.Second, 28)
	otherURL.signURL = "https://switchboard.example.com/twilio/status"
	s["invalid-signature"] = []step{wrongToken, tampered, unsigned, otherURL}

	c = inbound("malformed-parameters", "+15035550158", geoWA)
	badSID := c.voice()
	badSID.form.Set("CallSid", "CA123")
	noAccount := c.voice()
	noAccount.form.Del("AccountSid")
	unknownStatus := c.status("exploded", -1, 3*time.Second, 0)
	badTime := c.status("in-progress", -1, 3*time.Second, 0)
	badTime.form.Set("Timestamp", "yesterday")
	turnWord := c.gather(1, "Hello?", "0.5")
	turnWord.path = "/twilio/gather?turn=abc"
	turnZero := c.gather(1, "Hello?", "0.5")
	turnZero.path = "/twilio/gather?turn=0"
	jsonBody := step{path: "/twilio/voice", contentType: "application/json",
		rawBody: `{"CallSid":"` + c.sid + `","AccountSid":"` + accountSID + `"}`}
	foreignHost := c.recording("completed", 12, "https://recordings.example.net/2010-04-01/Accounts/"+accountSID+"/Recordings/"+sid("RE", c.sid))
	otherAccount := c.recording("completed", 12, "https://api.twilio.com/2010-04-01/Accounts/"+sid("AC", "someone-else")+"/Recordings/"+sid("RE", c.sid))
	s["malformed-parameters"] = []step{
		c.voice(), badSID, noAccount, unknownStatus, badTime, turnWord, turnZero, jsonBody, foreignHost, otherAccount,
	}
	return s
}

// signature is the X-Twilio-Signature the step carries.
func (st step) signature() string {
	token, signURL, form := fixture.DevAuthToken, fixture.BaseURL+st.path, st.form
	if st.token != "" {
		token = st.token
	}
	if st.signURL != "" {
		signURL = st.signURL
	}
	if st.signedForm != nil {
		form = st.signedForm
	}
	return twiliotest.Sign(token, signURL, form)
}
