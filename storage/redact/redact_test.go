package redact_test

import (
	"slices"
	"strings"
	"testing"

	"switchboard/storage/redact"
)

// corpus is what callers and assistants say, as a speech recogniser writes
// it. want is the text after redaction; the card numbers are the card
// networks' published test numbers, the SSNs and phone numbers are of the
// reserved or fictional ranges.
var corpus = []struct {
	said, want string
	kinds      []redact.Kind
}{
	// Cards: grouped, dashed, run together, read digit by digit, with
	// "double"; all pass the Luhn check.
	{"my card is 4111 1111 1111 1111 expiring in May", "my card is [card] expiring in May", []redact.Kind{redact.Card}},
	{"It's 5555-5555-5555-4444.", "It's [card].", []redact.Kind{redact.Card}},
	{"card number 378282246310005 please", "card number [card] please", []redact.Kind{redact.Card}},
	{"four one one one one one one one one one one one one one one one", "[card]", []redact.Kind{redact.Card}},
	{"it's four double one" + strings.Repeat(" one", 13) + " and the code is 123", "it's [card] and the code is 123", []redact.Kind{redact.Card}},
	{"6011 1111 1111 1117", "[card]", []redact.Kind{redact.Card}},
	// SSNs.
	{"my social is 078-05-1120", "my social is [ssn]", []redact.Kind{redact.SSN}},
	{"SSN 078 05 1120", "SSN [ssn]", []redact.Kind{redact.SSN}},
	{"my social security number is zero seven eight zero five one one two oh", "my social security number is [ssn]", []redact.Kind{redact.SSN}},
	// E-mail addresses, written and spoken.
	{"email me at jane.doe+calls@example.com thanks", "email me at [email] thanks", []redact.Kind{redact.Email}},
	{"it's jane dot doe at example dot com", "it's [email]", []redact.Kind{redact.Email}},
	{"send it to bob at mail dot example dot org", "send it to [email]", []redact.Kind{redact.Email}},
	// Phone numbers.
	{"call me back on 415-555-0132", "call me back on [phone]", []redact.Kind{redact.Phone}},
	{"my number is (415) 555 0132", "my number is [phone]", []redact.Kind{redact.Phone}},
	{"reach me at +44 20 7946 0018 tomorrow", "reach me at [phone] tomorrow", []redact.Kind{redact.Phone}},
	{"it's four one five five five five zero one three two", "it's [phone]", []redact.Kind{redact.Phone}},
	{"1 415 555 0132", "[phone]", []redact.Kind{redact.Phone}},
	{"4155550132", "[phone]", []redact.Kind{redact.Phone}},
	{"my cell is 4 1 5 5 5 5 0 1 3 2", "my cell is [phone]", []redact.Kind{redact.Phone}},
	// Several in one utterance.
	{"card 4111111111111111 and phone 415-555-0132 and mail a@b.co", "card [card] and phone [phone] and mail [email]",
		[]redact.Kind{redact.Email, redact.Card, redact.Phone}},
}

// clean is what must come through unchanged: numbers that are not personal
// data, including ones of card length that fail the Luhn check.
var clean = []string{
	"I have 2 kids and 3 dogs",
	"we're open from 9 to 5 on weekdays",
	"it costs 1,500 dollars or 20 a month",
	"my order number is 4111 1111 1111 1112",
	"the tracking number is 1Z999AA10123456784",
	"I was born on 12/25/1990",
	"the meeting is at 10:30 on March 3rd 2026",
	"apartment 1204, 350 Fifth Avenue",
	"zip code 94103",
	"order 12345 67890",
	"I said oh no, that's wrong",
	"one or two people, maybe three",
	"reference 2026-11-30",
	"we spent 250, then 300, then 125",
	"invoice 000123456",
	"the total was 4,532.18",
	"room 101",
	"yes",
	"",
}

func TestCorpus(t *testing.T) {
	missed, wrong := 0, 0
	for _, c := range corpus {
		got, kinds := redact.Text(c.said)
		if got != c.want {
			missed++
			t.Errorf("Text(%q) = %q, want %q", c.said, got, c.want)
		}
		if !sameKinds(kinds, c.kinds) {
			t.Errorf("Text(%q) kinds %v, want %v", c.said, kinds, c.kinds)
		}
	}
	for _, s := range clean {
		if got, kinds := redact.Text(s); got != s || len(kinds) != 0 {
			wrong++
			t.Errorf("false positive: Text(%q) = %q %v", s, got, kinds)
		}
	}
	t.Logf("%d utterances with personal data, %d missed; %d without, %d false positives", len(corpus), missed, len(clean), wrong)
}

func sameKinds(a, b []redact.Kind) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestNothingLeaks(t *testing.T) {
	// Whatever the corpus's personal data was, none of its digits or
	// addresses survive.
	secrets := []string{"4111", "5555-5555", "378282246310005", "078-05-1120", "jane.doe", "0132", "7946", "example dot com"}
	for _, c := range corpus {
		got := redact.String(c.said)
		for _, secret := range secrets {
			if strings.Contains(got, secret) {
				t.Errorf("%q still holds %q after redaction: %q", c.said, secret, got)
			}
		}
	}
}

func FuzzText(f *testing.F) {
	for _, c := range corpus {
		f.Add(c.said)
	}
	for _, s := range clean {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, kinds := redact.Text(s)
		if len(kinds) == 0 && got != s {
			t.Fatalf("changed %q to %q without finding anything", s, got)
		}
		if again, more := redact.Text(got); again != got || len(more) != 0 {
			t.Fatalf("redacting %q twice changed it again: %q %v", got, again, more)
		}
	})
}
