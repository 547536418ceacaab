package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service/servicetest"
)

// providerDelay is the fake model's fixed latency per request.
const providerDelay = 50 * time.Millisecond

// BenchmarkAssistantTurnOverhead measures what switchboard adds to a whole
// turn beyond the model's own latency: a signed gather webhook over HTTP
// (signature check, store reads and writes, the history, the provider SDK's
// encoding and decoding over a kept-alive connection, speech shaping,
// metrics, TwiML) until the TwiML is read. Each iteration is turn 1 of a
// fresh call, whose incoming-call webhook is not timed. It reports the
// overhead per turn in milliseconds and as a ratio to the provider's delay.
//
//	go test -run '^$' -bench BenchmarkAssistantTurnOverhead -benchtime 200x ./handlers/
func BenchmarkAssistantTurnOverhead(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			r := startRig(b, be, func(int, modelRequest) modelAnswer {
				return modelAnswer{Text: "We open at eight on Saturdays.", Delay: providerDelay}
			}, nil)
			form := func(call twiliotest.Call) *http.Request {
				return servicetest.SignedRequest(b, r.URL, "/twilio/gather?turn=1",
					call.Form("SpeechResult", "What time do you open on Saturday?", "Confidence", "0.9"))
			}
			// One untimed turn opens the kept-alive connections.
			r.say(b, r.answerCall(b), 1, "Hello?")

			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				call := twiliotest.NewCall(servicetest.AccountSID)
				if resp := r.Webhook("/twilio/voice", call.Form()); resp.Status != http.StatusOK {
					b.Fatalf("voice: %d %s", resp.Status, resp.Body)
				}
				req := form(call)
				b.StartTimer()
				start := time.Now()
				resp := r.Do(req)
				total += time.Since(start)
				if resp.Status != http.StatusOK {
					b.Fatalf("gather: %d %s", resp.Status, resp.Body)
				}
			}
			turn := total / time.Duration(b.N)
			overhead := turn - providerDelay
			b.ReportMetric(float64(turn.Microseconds())/1000, "turn-ms")
			b.ReportMetric(float64(overhead.Microseconds())/1000, "overhead-ms")
			b.ReportMetric(float64(overhead)/float64(providerDelay), "overhead/delay")
		})
	}
}
