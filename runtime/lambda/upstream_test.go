package lambda_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	fiberadapter "github.com/awslabs/aws-lambda-go-api-proxy/fiber"
)

// TestUpstreamFiberAdapterGaps records, against the pinned
// aws-lambda-go-api-proxy, the failures that made this package convert
// events itself. Each subtest feeds the upstream adapter an event that
// TestOddButValidEvents or TestLambdaContextReachesHandlers shows this
// package handling. If one starts failing after an upgrade, upstream has
// fixed that gap and the package doc should say so.
func TestUpstreamFiberAdapterGaps(t *testing.T) {
	ta := newTestApp()
	up := fiberadapter.New(ta.app)

	rest := func(t *testing.T, r request, edit func(*events.APIGatewayProxyRequest)) events.APIGatewayProxyRequest {
		t.Helper()
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(mustJSON(t, restEvent(r)), &ev); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(&ev)
		}
		return ev
	}
	v2 := func(t *testing.T, r request, edit func(*events.APIGatewayV2HTTPRequest)) events.APIGatewayV2HTTPRequest {
		t.Helper()
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(mustJSON(t, httpAPIEvent(r)), &ev); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(&ev)
		}
		return ev
	}
	echoV2 := func(t *testing.T, resp events.APIGatewayV2HTTPResponse) echo {
		t.Helper()
		return decodeEcho(t, result{Body: []byte(resp.Body)})
	}

	t.Run("IPv6SourceIPAnswered500", func(t *testing.T) {
		resp, _ := up.ProxyWithContextV2(t.Context(), v2(t, get, func(ev *events.APIGatewayV2HTTPRequest) {
			ev.RequestContext.HTTP.SourceIP = "2001:db8::1"
		}))
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("upstream answered %d", resp.StatusCode)
		}
	})
	t.Run("BarePercentInPathAnswered504", func(t *testing.T) {
		resp, err := up.ProxyWithContext(t.Context(), rest(t, request{method: "GET", path: "/echo/100%", ip: "203.0.113.5"}, nil))
		if resp.StatusCode != http.StatusGatewayTimeout || err == nil {
			t.Fatalf("upstream answered %d, %v", resp.StatusCode, err)
		}
	})
	t.Run("DecodedQuestionMarkInHTTPAPIPathCutsPath", func(t *testing.T) {
		resp, _ := up.ProxyWithContextV2(t.Context(), v2(t, get, func(ev *events.APIGatewayV2HTTPRequest) {
			ev.RawPath, ev.RawQueryString = "/echo/what?x", "q=1"
		}))
		if e := echoV2(t, resp); e.Path != "/echo/what" {
			t.Fatalf("upstream routed %q", e.Path)
		}
	})
	t.Run("HTTPAPIHeaderSplitAtCommas", func(t *testing.T) {
		// c.Get then returns only "a": the rest of the value is lost.
		resp, _ := up.ProxyWithContextV2(t.Context(), v2(t, get, func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["x-list"] = "a, b"
		}))
		if got := echoV2(t, resp).Headers["X-List"]; len(got) != 2 {
			t.Fatalf("upstream passed %q", got)
		}
	})
	t.Run("UnpaddedBase64BodyAnswered504", func(t *testing.T) {
		resp, err := up.ProxyWithContextV2(t.Context(), v2(t, request{method: "POST", path: "/echo", ip: "203.0.113.5"},
			func(ev *events.APIGatewayV2HTTPRequest) {
				ev.Body, ev.IsBase64Encoded = base64.RawURLEncoding.EncodeToString(binaryBody[240:]), true
			}))
		if resp.StatusCode != http.StatusGatewayTimeout || err == nil {
			t.Fatalf("upstream answered %d, %v", resp.StatusCode, err)
		}
	})
	t.Run("LambdaContextNotPassedToFiber", func(t *testing.T) {
		ctx, _ := lambdaContext(t, "req-up", time.Minute)
		resp, _ := up.ProxyWithContextV2(ctx, v2(t, get, nil))
		if e := echoV2(t, resp); e.RequestID != "" || !e.Deadline.IsZero() {
			t.Fatalf("upstream passed request id %q deadline %v", e.RequestID, e.Deadline)
		}
	})
}
