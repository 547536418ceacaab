package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	s3store "switchboard/storage/s3"
)

// TestTwilioStatusValues: every CallStatus Twilio documents is accepted
// (initiated comes with StatusCallbackEvent=initiated for outbound legs),
// with the same monotonic rules; RFC 2822 timestamps with a one-digit day
// parse.
func TestTwilioStatusValues(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	for _, st := range []string{"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"} {
		t.Run(st, func(t *testing.T) {
			call := twiliotest.NewCall(servicetest.AccountSID)
			r := in.Webhook("/twilio/status", call.Form("CallStatus", st, "StatusCallbackEvent", st, "SequenceNumber", "0",
				"Timestamp", "Mon, 2 Feb 2026 09:05:07 +0000"))
			if r.Status != http.StatusNoContent {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			got := in.GetCall(call.CallSID)
			if string(got.Status) != st {
				t.Errorf("status %s, want %s", got.Status, st)
			}
			want := time.Date(2026, 2, 2, 9, 5, 7, 0, time.UTC)
			if len(got.Timeline) != 1 || !got.Timeline[0].At.Equal(want) {
				t.Errorf("timeline %+v, want one event at %s", got.Timeline, want)
			}
		})
	}
	t.Run("InitiatedOrdersBetweenQueuedAndRinging", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		for _, st := range []string{"ringing", "initiated", "queued"} {
			in.Webhook("/twilio/status", call.Form("CallStatus", st))
		}
		if got := in.GetCall(call.CallSID).Status; got != storage.StatusRinging {
			t.Errorf("status %s after ringing, initiated, queued; want ringing", got)
		}
		call2 := twiliotest.NewCall(servicetest.AccountSID)
		for _, st := range []string{"queued", "initiated"} {
			in.Webhook("/twilio/status", call2.Form("CallStatus", st))
		}
		if got := in.GetCall(call2.CallSID).Status; got != storage.StatusInitiated {
			t.Errorf("status %s after queued, initiated; want initiated", got)
		}
	})
	for name, ts := range map[string]string{
		"TwoDigitDay":   "Thu, 12 Feb 2026 11:48:25 +0000",
		"NoWeekday":     "12 Feb 2026 11:48:25 +0000",
		"ZoneName":      "Thu, 12 Feb 2026 11:48:25 GMT",
		"OtherZone":     "Thu, 12 Feb 2026 12:48:25 +0100",
		"RFC3339Accept": "2026-02-12T11:48:25Z",
	} {
		t.Run("OKTimestamp"+name, func(t *testing.T) {
			call := twiliotest.NewCall(servicetest.AccountSID)
			if r := in.Webhook("/twilio/status", call.Form("CallStatus", "ringing", "Timestamp", ts)); r.Status != http.StatusNoContent {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if at := in.GetCall(call.CallSID).Timeline[0].At; !at.Equal(time.Date(2026, 2, 12, 11, 48, 25, 0, time.UTC)) {
				t.Errorf("at %s", at)
			}
		})
	}
	t.Run("ErrTimestampGarbage", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		if r := in.Webhook("/twilio/status", call.Form("CallStatus", "ringing", "Timestamp", "yesterday")); r.Status != http.StatusBadRequest {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

// TestReadinessWithBlobStoreDown: with S3 unreachable the instance can
// still answer calls, so /readyz stays 200 and reports the blob store in
// its body and in metrics; only the call store decides readiness.
func TestReadinessWithBlobStoreDown(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	blobs, err := s3store.New(t.Context(), s3store.Config{
		Bucket: "recordings", Endpoint: "http://127.0.0.1:1", URLTTL: time.Minute, PartSize: 5 << 20, Concurrency: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	in := servicetest.Start(t, servicetest.Options{Blobs: blobs})
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/readyz", nil)
	r := in.Do(req)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"blobs":"unavailable"`) || !strings.Contains(r.Body, `"calls":"ok"`) {
		t.Fatalf("readyz with S3 down: %d %s", r.Status, r.Body)
	}
	m := in.API(http.MethodGet, "/metrics")
	for _, want := range []string{`switchboard_dependency_up{dependency="blobs"} 0`, `switchboard_dependency_up{dependency="calls"} 1`} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	call := twiliotest.NewCall(servicetest.AccountSID)
	if r := in.Webhook("/twilio/voice", call.Form()); r.Status != http.StatusOK {
		t.Errorf("a call during the S3 outage: %d %s", r.Status, r.Body)
	}
}

// TestBasePathOverHTTP: PUBLIC_BASE_URL with a path. A request under the
// path, or one a proxy delivered without it, routes on the rest and is
// checked against the URL Twilio used; TwiML URLs carry the path.
func TestBasePathOverHTTP(t *testing.T) {
	const base = "https://voice.example.com/switchboard"
	in := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) { c.PublicBaseURL = base + "/" }})
	send := func(path, signedURL string, form url.Values) servicetest.Response {
		req := servicetest.SignedRequest(t, in.URL, path, form)
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, signedURL, form))
		return in.Do(req)
	}
	t.Run("OKUnderBasePath", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		r := send("/switchboard/twilio/voice", base+"/twilio/voice", call.Form())
		if r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		for _, want := range []string{`recordingStatusCallback="` + base + `/twilio/recording"`, `action="` + base + `/twilio/gather?turn=1"`,
			">" + base + "/twilio/gather?silence=1&amp;turn=1</Redirect>"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("TwiML lacks %s:\n%s", want, r.Body)
			}
		}
		r = send("/switchboard/twilio/gather?turn=1", base+"/twilio/gather?turn=1", call.Form("SpeechResult", "What are your hours?"))
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `action="`+base+`/twilio/gather?turn=2"`) {
			t.Fatalf("gather: %d %s", r.Status, r.Body)
		}
	})
	t.Run("OKPathRemovedByProxy", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		if r := send("/twilio/voice", base+"/twilio/voice", call.Form()); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("ErrSignedWithoutBasePath", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		if r := send("/switchboard/twilio/voice", "https://voice.example.com/twilio/voice", call.Form()); r.Status != http.StatusForbidden {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("ErrOtherPrefix", func(t *testing.T) {
		call := twiliotest.NewCall(servicetest.AccountSID)
		if r := send("/switchboardx/twilio/voice", base+"x/twilio/voice", call.Form()); r.Status != http.StatusNotFound {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("OKAPIUnderBasePath", func(t *testing.T) {
		if r := in.API(http.MethodGet, "/switchboard/api/v1/calls?limit=1"); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

// lambdaApp is the service as it runs under Lambda, wired by
// runtime/service as cmd/switchboard wires it.
func lambdaApp(t *testing.T, baseURL string) (*service.LambdaFunction, storage.Store) {
	t.Helper()
	cfg := service.Defaults()
	cfg.PublicBaseURL, cfg.TwilioAuthToken, cfg.APITokens = baseURL, servicetest.AuthToken, []string{servicetest.APIToken}
	cfg.DataDir, cfg.Worker.Size = t.TempDir(), 0
	svc, err := service.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), service.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc.LambdaFunction(), svc.Calls
}

// sampleEvent loads one of aws-lambda-go's sample events (testdata/lambda)
// and points it at a webhook: method POST, a signed form body, and the
// path and query fields edit sets.
func sampleEvent(t *testing.T, file string, form url.Values, signedURL string, edit func(ev map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "lambda", file))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	headers := map[string]any{
		"Content-Type":       "application/x-www-form-urlencoded",
		"X-Twilio-Signature": twiliotest.Sign(servicetest.AuthToken, signedURL, form),
		"Host":               "ignored.example.com",
	}
	if _, ok := ev["multiValueHeaders"]; ok {
		mv := map[string]any{}
		for k, v := range headers {
			mv[k] = []any{v}
		}
		ev["multiValueHeaders"] = mv
	}
	ev["headers"] = headers
	ev["body"] = base64.StdEncoding.EncodeToString([]byte(form.Encode()))
	ev["isBase64Encoded"] = true
	if _, ok := ev["httpMethod"]; ok {
		ev["httpMethod"] = "POST"
	}
	if rc, ok := ev["requestContext"].(map[string]any); ok {
		if h, ok := rc["http"].(map[string]any); ok {
			h["method"] = "POST"
		}
	}
	edit(ev)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLambdaStagesAndBasePaths: webhooks through API Gateway stages, a
// custom-domain base path mapping and an ALB, built from aws-lambda-go's
// own sample events, with operator query strings the REST and ALB events
// carry only as maps.
func TestLambdaStagesAndBasePaths(t *testing.T) {
	const restHost = "https://gy415nuibc.execute-api.us-east-2.amazonaws.com"
	const httpHost = "https://aaaaaaaaaa.execute-api.us-west-2.amazonaws.com"
	cases := []struct {
		name, base, file, signedPath string
		edit                         func(ev map[string]any)
		status                       int
	}{
		{
			name: "RESTStage", base: restHost + "/testStage", file: "apigw-request.json", signedPath: "/twilio/voice",
			edit: func(ev map[string]any) {
				ev["path"] = "/twilio/voice"
				ev["requestContext"].(map[string]any)["path"] = "/testStage/twilio/voice"
				ev["queryStringParameters"], ev["multiValueQueryStringParameters"] = nil, nil
			},
			status: 200,
		},
		{
			name: "RESTStageOperatorQueryUnsorted", base: restHost + "/testStage", file: "apigw-request.json",
			signedPath: "/twilio/voice?site=2&line=Main%20Office",
			edit: func(ev map[string]any) {
				ev["path"] = "/twilio/voice"
				ev["queryStringParameters"] = map[string]any{"site": "2", "line": "Main Office"}
				ev["multiValueQueryStringParameters"] = map[string]any{"site": []any{"2"}, "line": []any{"Main Office"}}
			},
			status: 200,
		},
		{
			name: "RESTCustomDomainBasePath", base: "https://calls.example.com/voice", file: "apigw-request.json", signedPath: "/twilio/voice",
			edit: func(ev map[string]any) {
				ev["path"] = "/voice/twilio/voice"
				ev["requestContext"].(map[string]any)["domainName"] = "calls.example.com"
				ev["queryStringParameters"], ev["multiValueQueryStringParameters"] = nil, nil
			},
			status: 200,
		},
		{
			name: "HTTPAPINamedStage", base: httpHost + "/prod", file: "apigw-v2-request-no-authorizer.json", signedPath: "/twilio/voice?line=main",
			edit: func(ev map[string]any) {
				ev["rawPath"] = "/prod/twilio/voice"
				ev["rawQueryString"] = "line=main"
				rc := ev["requestContext"].(map[string]any)
				rc["stage"] = "prod"
				rc["http"].(map[string]any)["path"] = "/prod/twilio/voice"
			},
			status: 200,
		},
		{
			name: "ALBQueryUnsortedAndEncoded", base: "https://voice.example.com", file: "alb-lambda-target-request-multivalue-headers.json",
			signedPath: "/twilio/voice?z=1&a=o%27hare",
			edit: func(ev map[string]any) {
				ev["path"] = "/twilio/voice"
				ev["multiValueQueryStringParameters"] = map[string]any{"z": []any{"1"}, "a": []any{"o%27hare"}}
			},
			status: 200,
		},
		{
			name: "ErrRESTSignedWithoutStage", base: restHost + "/testStage", file: "apigw-request.json", signedPath: "",
			edit: func(ev map[string]any) {
				ev["path"] = "/twilio/voice"
				ev["queryStringParameters"], ev["multiValueQueryStringParameters"] = nil, nil
			},
			status: 403,
		},
		{
			// The runtime decoded the invocation; the app adds nothing and
			// inflates nothing.
			name: "ErrCompressedBody", base: restHost + "/testStage", file: "apigw-request.json", signedPath: "/twilio/voice",
			edit: func(ev map[string]any) {
				ev["path"] = "/twilio/voice"
				ev["queryStringParameters"], ev["multiValueQueryStringParameters"] = nil, nil
				ev["headers"].(map[string]any)["Content-Encoding"] = "gzip"
				ev["multiValueHeaders"].(map[string]any)["Content-Encoding"] = []any{"gzip"}
			},
			status: 415,
		},
		{
			name: "ErrQueryChanged", base: restHost + "/testStage", file: "apigw-request.json", signedPath: "/twilio/voice?site=2",
			edit: func(ev map[string]any) {
				ev["path"] = "/twilio/voice"
				ev["queryStringParameters"] = map[string]any{"site": "3"}
				ev["multiValueQueryStringParameters"] = map[string]any{"site": []any{"3"}}
			},
			status: 403,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, calls := lambdaApp(t, tc.base)
			call := twiliotest.NewCall(servicetest.AccountSID)
			signed := tc.base + tc.signedPath
			if tc.signedPath == "" {
				u, _ := url.Parse(tc.base)
				signed = u.Scheme + "://" + u.Host + "/twilio/voice"
			}
			ev := sampleEvent(t, tc.file, call.Form(), signed, tc.edit)
			out, err := h.Invoke(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				StatusCode      int    `json:"statusCode"`
				Body            string `json:"body"`
				IsBase64Encoded bool   `json:"isBase64Encoded"`
			}
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			body := resp.Body
			if resp.IsBase64Encoded {
				b, _ := base64.StdEncoding.DecodeString(body)
				body = string(b)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			_, err = calls.GetCall(t.Context(), call.CallSID)
			if tc.status != 200 {
				if err == nil {
					t.Error("a refused webhook stored the call")
				}
				return
			}
			if err != nil {
				t.Fatalf("call not stored: %v", err)
			}
			if want := `action="` + tc.base + `/twilio/gather?turn=1"`; !strings.Contains(body, want) {
				t.Errorf("TwiML lacks %s:\n%s", want, body)
			}
		})
	}
}
