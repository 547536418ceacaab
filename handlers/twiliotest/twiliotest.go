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
