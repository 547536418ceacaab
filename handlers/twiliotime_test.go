package handlers

import (
	"net/url"
	"testing"
	"time"
)

// TestTwilioTime: the form Twilio sends goes through the one-layout fast
// path, day padded or not; every other RFC 5322 form and RFC 3339 still
// parse, to the same instant; anything else is refused.
func TestTwilioTime(t *testing.T) {
	want := time.Date(2026, 2, 5, 11, 48, 25, 0, time.UTC)
	for _, v := range []string{
		"Thu, 5 Feb 2026 11:48:25 +0000",
		"Thu, 05 Feb 2026 11:48:25 +0000",
		"Thu, 5 Feb 2026 12:48:25 +0100",
		"5 Feb 2026 11:48:25 +0000",
		"Thu, 5 Feb 2026 11:48:25 GMT",
		"Thu,  5 Feb 2026 11:48:25 +0000 (UTC)",
		"2026-02-05T11:48:25Z",
	} {
		got, ok, err := twilioTime(url.Values{"Timestamp": {v}}, "Timestamp")
		if err != nil || !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%q: %v, %v, %v; want %v", v, got, ok, err, want)
		}
	}
	for _, v := range []string{"yesterday", "Thu, 5 Feb 2026", "Thu, 35 Feb 2026 11:48:25 +0000"} {
		if _, _, err := twilioTime(url.Values{"Timestamp": {v}}, "Timestamp"); err == nil {
			t.Errorf("%q parsed", v)
		}
	}
	if _, ok, err := twilioTime(url.Values{}, "Timestamp"); ok || err != nil {
		t.Errorf("absent: %v, %v", ok, err)
	}
}
