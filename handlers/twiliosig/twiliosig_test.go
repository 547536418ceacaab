package twiliosig_test

import (
	"net/url"
	"strings"
	"testing"

	"switchboard/handlers/twiliosig"
)

// The vectors below are the official SDKs' own test vectors:
//   - twilio-python tests/unit/test_request_validator.py (commit 306691e7),
//   - twilio-node spec/validation.spec.js (commit 45d3d65a).
const (
	token      = "12345"
	requestURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
)

func defaultParams() url.Values {
	return url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
}

func TestSDKVectors(t *testing.T) {
	cases := []struct {
		name   string
		url    string
		params url.Values
		sig    string
	}{
		{"Canonical", requestURL, defaultParams(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		// Keys sorted, a key's values sorted, duplicates removed.
		{"RepeatedKeys", requestURL, url.Values{
			"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234", "1234"},
		}, "IK+Dwps556ElfBT0I3Rgjkr1wJU="},
		{"ArrayParameter", requestURL, url.Values{
			"MessagingBinding.Address": {"+1325xxxxxxx", "+1415xxxxxxx"},
		}, "83O6e2vORAoJHUNzJjDWN1jz+BA="},
		{"ArrayParameterOtherOrder", requestURL, url.Values{
			"MessagingBinding.Address": {"+1415xxxxxxx", "+1325xxxxxxx"},
		}, "83O6e2vORAoJHUNzJjDWN1jz+BA="},
		// Signed for the URL without its port; requested on port 1234.
		{"HTTPSPortRemoved", strings.Replace(requestURL, ".com", ".com:1234", 1), defaultParams(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"HTTPPortKept", strings.Replace(strings.Replace(requestURL, ".com", ".com:1234", 1), "https", "http", 1), defaultParams(), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="},
		// Signed with the default port; requested without it.
		{"HTTPSPortAdded", requestURL, defaultParams(), "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{"HTTPPortAdded", strings.Replace(requestURL, "https", "http", 1), defaultParams(), "0ZXoZLH/DfblKGATFgpif+LLRf4="},
		{"Apostrophe", requestURL + "&Body=It's+amazing", defaultParams(), "TfZzewPq8wqrGlMfyAud8+/IvJ0="},
		{"ApostropheEscaped", requestURL + "&Body=It%27s+amazing", defaultParams(), "TfZzewPq8wqrGlMfyAud8+/IvJ0="},
	}
	c := twiliosig.NewChecker(token)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !c.Check(tc.sig, twiliosig.URLVariants(tc.url), twiliosig.NewParams(tc.params)) {
				t.Errorf("signature %s refused for %s", tc.sig, tc.url)
			}
			changed := url.Values{}
			for k, v := range tc.params {
				changed[k] = v
			}
			changed.Set("Extra", "1")
			if c.Check(tc.sig, twiliosig.URLVariants(tc.url), twiliosig.NewParams(changed)) {
				t.Errorf("signature %s accepted with an added parameter", tc.sig)
			}
		})
	}
	if got := twiliosig.Sign(token, requestURL, defaultParams()); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Errorf("Sign = %s", got)
	}
}

func TestCheckRefuses(t *testing.T) {
	params := twiliosig.NewParams(defaultParams())
	good := twiliosig.Sign(token, requestURL, defaultParams())
	cases := map[string]struct {
		c   *twiliosig.Checker
		sig string
		url string
	}{
		"WrongToken":      {twiliosig.NewChecker("54321"), good, requestURL},
		"NoToken":         {twiliosig.NewChecker(""), good, requestURL},
		"OtherPath":       {twiliosig.NewChecker(token), good, "https://mycompany.com/myapp.php?foo=1&bar=3"},
		"EncodedPath":     {twiliosig.NewChecker(token), good, "https://mycompany.com/myap%70.php?foo=1&bar=2"},
		"NotBase64":       {twiliosig.NewChecker(token), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!", requestURL},
		"Truncated":       {twiliosig.NewChecker(token), good[:20], requestURL},
		"Empty":           {twiliosig.NewChecker(token), "", requestURL},
		"OtherHost":       {twiliosig.NewChecker(token), good, "https://evil.example.com/myapp.php?foo=1&bar=2"},
		"SchemeDowngrade": {twiliosig.NewChecker(token), good, "http://mycompany.com/myapp.php?foo=1&bar=2"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.c.Check(tc.sig, twiliosig.URLVariants(tc.url), params) {
				t.Errorf("accepted")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	params := twiliosig.NewParams(defaultParams())
	c := twiliosig.NewChecker("old-token", "new-token")
	for _, tok := range []string{"old-token", "new-token"} {
		if !c.Check(twiliosig.Sign(tok, requestURL, defaultParams()), []string{requestURL}, params) {
			t.Errorf("signature with %s refused", tok)
		}
	}
}

func TestURLVariants(t *testing.T) {
	got := twiliosig.URLVariants("https://user:pw@example.com:8443/a?b='c'")
	want := []string{
		"https://user:pw@example.com:8443/a?b='c'",
		"https://user:pw@example.com:8443/a?b=%27c%27",
		"https://user:pw@example.com/a?b='c'",
		"https://user:pw@example.com/a?b=%27c%27",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("URLVariants:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func BenchmarkParams(b *testing.B) {
	form := url.Values{}
	for i := range 40 {
		form.Set("Param"+strings.Repeat("x", i), strings.Repeat("v", 20))
	}
	b.ReportAllocs()
	for b.Loop() {
		twiliosig.NewParams(form)
	}
}
