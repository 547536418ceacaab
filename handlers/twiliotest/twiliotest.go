// Package twiliotest fakes the Twilio side of switchboard for tests and
// tools: it signs webhook requests the way Twilio does, makes valid SIDs and
// webhook forms, and serves recording media with programmable faults.
package twiliotest

import (
	"fmt"
	"net/url"
	"sync/atomic"

	"switchboard/handlers/twiliosig"
)

// Sign returns the X-Twilio-Signature Twilio sends for a POST of form to
// fullURL (see twiliosig).
func Sign(authToken, fullURL string, form url.Values) string {
	return twiliosig.Sign(authToken, fullURL, form)
}

var seq atomic.Uint64

// SID returns a fresh, valid SID with the given prefix ("CA", "RE", "AC").
func SID(prefix string) string {
	return fmt.Sprintf("%s%032x", prefix, seq.Add(1)|uint64(len(prefix))<<60)
}

// Call holds the identifiers of one fake call.
type Call struct {
	AccountSID string
	CallSID    string
	From, To   string
}

// NewCall returns a call with fresh SIDs and distinct numbers.
func NewCall(accountSID string) Call {
	n := seq.Add(1)
	return Call{
		AccountSID: accountSID,
		CallSID:    SID("CA"),
		From:       fmt.Sprintf("+1415555%04d", n%10000),
		To:         "+18005550100",
	}
}

// Form returns the parameters Twilio sends with every voice webhook for the
// call, plus extra (name, value) pairs.
func (c Call) Form(extra ...string) url.Values {
	f := url.Values{
		"AccountSid": {c.AccountSID}, "CallSid": {c.CallSID},
		"From": {c.From}, "To": {c.To}, "Caller": {c.From}, "Called": {c.To},
		"Direction": {"inbound"}, "ApiVersion": {"2010-04-01"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// Leg returns the call leg a <Dial> of c creates to reach number: a call
// of its own (a new CallSid) that shows c's caller ID, as <Dial> does when
// it sets no callerId.
func (c Call) Leg(number string) Call {
	return Call{AccountSID: c.AccountSID, CallSID: SID("CA"), From: c.From, To: number}
}

// LegForm is the form of a request Twilio makes for a leg that c's <Dial>
// created, such as the <Number url> (or <Sip url>) request made when the
// dialled party answers, before the parties are connected: the leg's own
// parameters, Direction "outbound-dial", and ParentCallSid, "a unique
// identifier for the call that created this leg" (Twilio's voice webhook
// parameters, https://www.twilio.com/docs/usage/webhooks/voice-webhooks;
// the url attribute: https://www.twilio.com/docs/voice/twiml/number#url).
func (c Call) LegForm(parentSID string, extra ...string) url.Values {
	f := c.Form("CallStatus", "in-progress", "Direction", "outbound-dial", "ParentCallSid", parentSID)
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// DialAction is the form Twilio posts to a <Dial action> URL once the
// dialled call ends, and then runs the TwiML answered
// (https://www.twilio.com/docs/voice/twiml/dial#action): the caller's call
// parameters with DialCallStatus (completed, answered, busy, no-answer,
// failed or canceled), DialCallSid (the leg's SID, when a leg was
// created), DialCallDuration (seconds) and DialBridged (whether the
// parties were connected).
func (c Call) DialAction(status, legSID string, seconds int) url.Values {
	f := c.Form("CallStatus", "in-progress", "DialCallStatus", status,
		"DialCallDuration", fmt.Sprint(seconds), "DialBridged", fmt.Sprint(status == "completed" || status == "answered"))
	if legSID != "" {
		f.Set("DialCallSid", legSID)
	}
	return f
}
