package handlers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
)

// BenchmarkWebhookHotPath measures the service's own CPU and allocations per
// webhook — signature check, form parsing, the handler, logging, metrics
// and TwiML — without a network or a database: the production wiring on the
// memory store, each request handed to the app's request handler as the
// listener hands it. Every iteration is a new call (or turn), so nothing is
// answered from a cache. Run with -benchmem:
//
//	go test -run '^$' -bench BenchmarkWebhookHotPath -benchmem ./handlers/
func BenchmarkWebhookHotPath(b *testing.B) {
	cfg := service.Defaults()
	cfg.PublicBaseURL, cfg.TwilioAuthToken, cfg.TwilioAccountSID = servicetest.PublicBaseURL, servicetest.AuthToken, servicetest.AccountSID
	cfg.Worker.Size, cfg.LogLevel = 0, "info"
	svc, err := service.New(b.Context(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), service.Overrides{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	svc.App.Handler() // builds the route tree
	handle := svc.App.Server().Handler
	webhook := func(b *testing.B, path string, form url.Values, want int) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(http.MethodPost)
		ctx.Request.SetRequestURI(path)
		ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
		ctx.Request.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, servicetest.PublicBaseURL+path, form))
		ctx.Request.SetBodyString(form.Encode())
		b.StartTimer()
		handle(&ctx)
		b.StopTimer()
		if got := ctx.Response.StatusCode(); got != want {
			b.Fatalf("%s: %d %s", path, got, ctx.Response.Body())
		}
	}
	newCall := func(b *testing.B) twiliotest.Call {
		call := twiliotest.NewCall(servicetest.AccountSID)
		if _, _, err := svc.Calls.StartCall(b.Context(), storage.NewCall{SID: call.CallSID, AccountSID: call.AccountSID}, storage.Turn{Text: "Hello"}); err != nil {
			b.Fatal(err)
		}
		return call
	}
	b.Run("IncomingCall", func(b *testing.B) {
		b.ReportAllocs()
		b.StopTimer()
		for range b.N {
			webhook(b, "/twilio/voice", twiliotest.NewCall(servicetest.AccountSID).Form("CallStatus", "ringing"), 200)
		}
	})
	b.Run("SpeechTurn", func(b *testing.B) {
		b.ReportAllocs()
		b.StopTimer()
		for range b.N {
			call := newCall(b)
			webhook(b, "/twilio/gather?turn=1", call.Form("CallStatus", "in-progress", "SpeechResult", "What are your hours?", "Confidence", "0.9"), 200)
		}
	})
	b.Run("StatusCallback", func(b *testing.B) {
		b.ReportAllocs()
		b.StopTimer()
		for range b.N {
			call := newCall(b)
			webhook(b, "/twilio/status", call.Form("CallStatus", "completed", "CallDuration", "42", "SequenceNumber", "3",
				"Timestamp", "Wed, 02 Dec 2026 10:00:00 +0000"), 204)
		}
	})
	b.Run("RecordingCallback", func(b *testing.B) {
		b.ReportAllocs()
		b.StopTimer()
		for range b.N {
			call := newCall(b)
			rec := twiliotest.SID("RE")
			webhook(b, "/twilio/recording", call.Form("RecordingSid", rec, "RecordingStatus", "completed", "RecordingDuration", "31",
				"RecordingUrl", cfg.TwilioAPIBaseURL+"/2010-04-01/Accounts/"+call.AccountSID+"/Recordings/"+rec), 204)
		}
	})
}
