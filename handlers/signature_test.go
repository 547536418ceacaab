package handlers_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	twclient "github.com/twilio/twilio-go/client"
	"github.com/valyala/fasthttp"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
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
	in := servicetest.Start(t, servicetest.Options{})
	call := twiliotest.NewCall(servicetest.AccountSID)
	form := call.Form("CallStatus", "ringing")

	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"ChangedParameter", func() *http.Request {
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			changed := call.Form("CallStatus", "ringing")
			changed.Set("From", "+19995550000")
			req.Body, req.ContentLength = bodyOf(changed.Encode())
			return req
		}},
		{"MissingHeader", func() *http.Request {
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Del("X-Twilio-Signature")
			return req
		}},
		{"URLFromHostHeader", func() *http.Request {
			// Signed for the URL the server sees (Host header), not the public
			// URL: what a validator that trusts Host would accept.
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, in.URL+"/twilio/voice", form))
			return req
		}},
		{"ForwardedHeaders", func() *http.Request {
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, "https://evil.example.com/twilio/voice", form))
			req.Header.Set("X-Forwarded-Host", "evil.example.com")
			req.Header.Set("X-Forwarded-Proto", "https")
			return req
		}},
		{"OtherQuery", func() *http.Request {
			// Signed for turn=1, sent to turn=2.
			req := servicetest.SignedRequest(t, in.URL, "/twilio/gather?turn=1", call.Form("SpeechResult", "hi"))
			req.URL.RawQuery = "turn=2"
			return req
		}},
		{"WrongToken", func() *http.Request {
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign("another-token", servicetest.PublicBaseURL+"/twilio/voice", form))
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
	in := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) { c.TwilioNextAuthToken = next }})
	call := twiliotest.NewCall(servicetest.AccountSID)
	form := call.Form()
	for name, token := range map[string]string{"OKCurrent": servicetest.AuthToken, "OKNext": next, "ErrOther": "some-other-token"} {
		t.Run(name, func(t *testing.T) {
			req := servicetest.SignedRequest(t, in.URL, "/twilio/voice", form)
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(token, servicetest.PublicBaseURL+"/twilio/voice", form))
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

// TestSignatureAsTheSDKsCompute: what the official SDKs accept, through the
// server: repeated form keys (twilio-python and twilio-node de-duplicate a
// key's values and sort them), an apostrophe in the URL either raw or
// escaped, the URL with the default port; and the request target exactly
// as received.
func TestSignatureAsTheSDKsCompute(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	signed := func(path, signedURL string, form url.Values) *http.Request {
		req := servicetest.SignedRequest(t, in.URL, path, form)
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, signedURL, form))
		return req
	}
	base := servicetest.PublicBaseURL
	t.Run("OKRepeatedKeys", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		form := call.Form("CallStatus", "ringing")
		form["StirVerstat"] = []string{"TN-Validation-Passed-A", "TN-Validation-Passed-A", "Other"}
		if r := in.Do(signed("/twilio/voice", base+"/twilio/voice", form)); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("OKApostropheRawInURL", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		// Sent with %27 on the wire (clients must escape it), signed
		// with the apostrophe as typed into Twilio's console.
		req := signed("/twilio/voice?site=o%27hare", base+"/twilio/voice?site=o'hare", call.Form())
		if r := in.Do(req); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("OKDefaultPort", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		req := signed("/twilio/voice", strings.Replace(base, ".com", ".com:443", 1)+"/twilio/voice", call.Form())
		if r := in.Do(req); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("ErrEncodedPathNotNormalised", func(t *testing.T) {
		// Signed for /twilio/gather, sent to /twilio/%67ather: the same
		// route once decoded, but not the URL that was signed.
		call := twiliotest.NewCall(servicetest.AccountSID)
		in.Webhook("/twilio/voice", call.Form())
		req := signed("/twilio/%67ather?turn=1", base+"/twilio/gather?turn=1", call.Form("SpeechResult", "hi"))
		if r := in.Do(req); r.Status != http.StatusForbidden {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("ErrValuesNotDeduplicatedBySender", func(t *testing.T) {
		// A signature over both copies of a repeated value is not the
		// SDKs' (and Twilio's) signature.
		call := twiliotest.NewCall(servicetest.AccountSID)
		form := call.Form()
		form["X"] = []string{"a", "a"}
		req := signed("/twilio/voice", base+"/twilio/voice", form)
		req.Header.Set("X-Twilio-Signature", naiveSign(servicetest.AuthToken, base+"/twilio/voice", form))
		if r := in.Do(req); r.Status != http.StatusForbidden {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

// naiveSign concatenates every value in the order given.
func naiveSign(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TestUnsignedRefusedCheaply: a body of thousands of empty fields is
// refused for its field count before any signature is computed, and a
// request without a signature before its body is parsed; a real webhook
// (Twilio sends about 40 fields) passes.
func TestUnsignedRefusedCheaply(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) { c.TwilioNextAuthToken = "the-next-auth-token-0123456789" }})
	many := strings.Repeat("&", 10000)
	for name, tc := range map[string]struct {
		body, sig string
		status    int
	}{
		"ErrManyFieldsForged":  {many, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", http.StatusRequestEntityTooLarge},
		"ErrManyFieldsNoSig":   {many, "", http.StatusForbidden},
		"ErrMalformedSig":      {"CallSid=x", "not base64 at all", http.StatusForbidden},
		"ErrSmallForged":       {"CallSid=x", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", http.StatusForbidden},
		"ErrMaxBodyOneField":   {"a=" + strings.Repeat("b", 60<<10), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", http.StatusForbidden},
		"ErrOverFieldLimit201": {strings.Repeat("a=1&", 200) + "a=1", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", http.StatusRequestEntityTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, in.URL+"/twilio/voice", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.sig != "" {
				req.Header.Set("X-Twilio-Signature", tc.sig)
			}
			if r := in.Do(req); r.Status != tc.status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	t.Run("OKManyRealFields", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		form := call.Form()
		for i := len(form); i < 200; i++ {
			form.Set(fmt.Sprintf("Extra%03d", i), "v")
		}
		if r := in.Webhook("/twilio/voice", form); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

// BenchmarkRefuseUnsigned measures what refusing a forged webhook costs:
// a small body, a body at the limit with one large field, and one with
// 10,000 empty fields, with both auth tokens configured. Run with
// -benchmem; the ratio of the large cases to the small one is the figure.
func BenchmarkRefuseUnsigned(b *testing.B) {
	cfg := service.Defaults()
	cfg.PublicBaseURL, cfg.TwilioAuthToken = servicetest.PublicBaseURL, servicetest.AuthToken
	cfg.TwilioNextAuthToken, cfg.Worker.Size = "the-next-auth-token-0123456789", 0
	svc, err := service.New(b.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), service.Overrides{})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	svc.App.Handler() // builds the route tree
	handle := svc.App.Server().Handler
	for _, bc := range []struct{ name, body string }{
		{"Small", "CallSid=CA0123&From=%2B14155550100&To=%2B18005550100"},
		{"MaxBodyOneField", "a=" + strings.Repeat("b", 64<<10-3)},
		{"MaxBodyOneFieldWithQuery", "a=" + strings.Repeat("b", 64<<10-3)},
		{"TenThousandEmptyFields", strings.Repeat("&", 10000)},
		{"LimitFields", strings.Repeat("a=1&", 199) + "a=1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			uri := "/twilio/voice"
			if strings.HasSuffix(bc.name, "WithQuery") {
				uri += "?site=o%27hare&line=main"
			}
			b.ReportAllocs()
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod(http.MethodPost)
				ctx.Request.SetRequestURI(uri)
				ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
				ctx.Request.Header.Set("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
				ctx.Request.SetBodyString(bc.body)
				handle(&ctx)
				if s := ctx.Response.StatusCode(); s != http.StatusForbidden && s != http.StatusRequestEntityTooLarge {
					b.Fatalf("status %d: %s", s, ctx.Response.Body())
				}
			}
		})
	}
}
