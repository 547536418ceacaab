package lambda_test

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
	"time"
)

// benchRequest is shaped like a Twilio webhook: a signed form POST.
var benchRequest = request{
	method: "POST", path: "/form", ip: "203.0.113.5",
	query: [][2]string{{"turn", "1"}},
	headers: [][2]string{
		{"Content-Type", "application/x-www-form-urlencoded"},
		{"X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"User-Agent", "TwilioProxy/1.1"},
		{"X-Amzn-Trace-Id", "Root=1-5c34e93e-4dea0086f9763ac0667b115a"},
	},
	body: []byte("CallSid=CA0123456789abcdef0123456789abcdef&From=%2B15551234567&Body=hello&SpeechResult=I+need+help"),
}

// BenchmarkInvoke measures event → response for each event shape,
// including JSON decoding of the event and encoding of the response.
func BenchmarkInvoke(b *testing.B) {
	h, _ := mustHandler(b)
	ctx, _ := lambdaContext(b, "bench", time.Hour)
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			payload := mustJSON(b, s.build(benchRequest))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Invoke(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppTest is the same request through app.Test, the baseline the
// Lambda path's cost is compared with.
func BenchmarkAppTest(b *testing.B) {
	ta := newTestApp()
	target := benchRequest.path + "?" + benchRequest.rawQuery()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(benchRequest.method, target, bytes.NewReader(benchRequest.body))
		for _, kv := range benchRequest.headers {
			req.Header.Set(kv[0], kv[1])
		}
		resp, err := ta.app.Test(req, -1)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
