package handlers_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	twclient "github.com/twilio/twilio-go/client"

	"switchboard/handlers"
	"switchboard/handlers/handlertest"
	"switchboard/handlers/twiliotest"
	"switchboard/storage"
)

// TestSignatureVector checks the canonical vector of Twilio's SDKs against
// both the signer used by tests and tools and the validator the handlers use.
func TestSignatureVector(t *testing.T) {
	const (
		token = "12345"
		u     = "https://mycompany.com/myapp.php?foo=1&bar=2"
		want  = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	)
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	if got := twiliotest.Sign(token, u, form); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	params := map[string]string{}
	for k, v := range form {
		params[k] = v[0]
	}
	v := twclient.NewRequestValidator(token)
	if !v.Validate(u, params, want) {
		t.Error("validator rejects the canonical vector")
	}
	params["Digits"] = "1235"
	if v.Validate(u, params, want) {
		t.Error("validator accepts a changed parameter")
	}
}

func TestSignatureRejected(t *testing.T) {
	in := handlertest.Start(t, handlertest.Options{})
	call := twiliotest.NewCall(handlertest.AccountSID)
	form := call.Form("CallStatus", "ringing")

	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"ChangedParameter", func() *http.Request {
			req := handlertest.SignedRequest(t, in.URL, "/twilio/voice", form)
			changed := call.Form("CallStatus", "ringing")
			changed.Set("From", "+19995550000")
			req.Body, req.ContentLength = bodyOf(changed.Encode())
			return req
		}},
		{"MissingHeader", func() *http.Request {
			req := handlertest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Del("X-Twilio-Signature")
			return req
		}},
		{"URLFromHostHeader", func() *http.Request {
			// Signed for the URL the server sees (Host header), not the public
			// URL: what a validator that trusts Host would accept.
			req := handlertest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(handlertest.AuthToken, in.URL+"/twilio/voice", form))
			return req
		}},
		{"ForwardedHeaders", func() *http.Request {
			req := handlertest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(handlertest.AuthToken, "https://evil.example.com/twilio/voice", form))
			req.Header.Set("X-Forwarded-Host", "evil.example.com")
			req.Header.Set("X-Forwarded-Proto", "https")
			return req
		}},
		{"OtherQuery", func() *http.Request {
			// Signed for turn=1, sent to turn=2.
			req := handlertest.SignedRequest(t, in.URL, "/twilio/gather?turn=1", call.Form("SpeechResult", "hi"))
			req.URL.RawQuery = "turn=2"
			return req
		}},
		{"WrongToken", func() *http.Request {
			req := handlertest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign("another-token", handlertest.PublicBaseURL+"/twilio/voice", form))
			return req
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := in.Do(tc.req())
			if r.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", r.Status, r.Body)
			}
			if !strings.Contains(r.Body, `"code":"forbidden"`) {
				t.Errorf("body %s", r.Body)
			}
		})
	}
	if _, err := in.Calls.GetCall(t.Context(), call.CallSID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a rejected webhook stored the call: %v", err)
	}
	t.Run("OK", func(t *testing.T) {
		if r := in.Webhook("/twilio/voice", form); r.Status != http.StatusOK {
			t.Fatalf("valid signature: %d %s", r.Status, r.Body)
		}
	})
}

// TestSignatureDuringRotation: with the next token configured, webhooks
// signed with either token verify; others are still refused.
func TestSignatureDuringRotation(t *testing.T) {
	const next = "the-next-auth-token-0123456789"
	in := handlertest.Start(t, handlertest.Options{Handlers: handlers.Config{NextAuthToken: next}})
	call := twiliotest.NewCall(handlertest.AccountSID)
	form := call.Form()
	for name, token := range map[string]string{"OKCurrent": handlertest.AuthToken, "OKNext": next, "ErrOther": "some-other-token"} {
		t.Run(name, func(t *testing.T) {
			req := handlertest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(token, handlertest.PublicBaseURL+"/twilio/voice", form))
			want := http.StatusOK
			if strings.HasPrefix(name, "Err") {
				want = http.StatusForbidden
			}
			if r := in.Do(req); r.Status != want {
				t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
			}
		})
	}
}
