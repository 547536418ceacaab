package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"switchboard/handlers/fixture"
	"switchboard/runtime/service"
)

// An eventShape turns a fixture request into the JSON payload one kind of
// Lambda trigger would deliver for it, and reads the matching response.
type eventShape struct {
	request  func(r fixture.Request, id string) any
	response func(payload []byte) (fixture.Response, error)
}

// lambdaRuntime replays through the Lambda adapter: the same app as the
// HTTP runtime, each request wrapped in the event the trigger sends, the
// answer unwrapped from the trigger's response shape.
func lambdaRuntime(shape eventShape) func() (fixture.Target, func(), error) {
	return func() (fixture.Target, func(), error) {
		svc, clean, err := newService(appOptions{})
		if err != nil {
			return nil, nil, err
		}
		return &lambdaTarget{h: svc.LambdaFunction(), shape: shape}, clean, nil
	}
}

type lambdaTarget struct {
	h     *service.LambdaFunction
	shape eventShape
	n     atomic.Int64
}

// Send signs r as the dev server expects, wraps it and invokes the handler
// with a Lambda context carrying a request id and the replay's deadline.
func (t *lambdaTarget) Send(ctx context.Context, r fixture.Request) (fixture.Response, error) {
	r = r.Resign(fixture.DevAuthToken, fixture.BaseURL)
	id := fmt.Sprintf("replay-%08d", t.n.Add(1))
	payload, err := json.Marshal(t.shape.request(r, id))
	if err != nil {
		return fixture.Response{}, err
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: id})
	out, err := t.h.Invoke(ctx, payload)
	if err != nil {
		return fixture.Response{}, fmt.Errorf("invoke: %w", err)
	}
	return t.shape.response(out)
}

// splitQuery returns the query's names and values as sent (still
// percent-encoded) and decoded, in order.
func splitQuery(uri string) (raw, decoded [][2]string) {
	_, q, _ := strings.Cut(uri, "?")
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		raw = append(raw, [2]string{k, v})
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			dk, dv = k, v
		}
		decoded = append(decoded, [2]string{dk, dv})
	}
	return raw, decoded
}

func single(pairs [][2]string) map[string]string {
	if len(pairs) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, p := range pairs {
		m[p[0]] = p[1] // the last value wins, as API Gateway and the ALB do
	}
	return m
}

func multi(pairs [][2]string) map[string][]string {
	if len(pairs) == 0 {
		return nil
	}
	m := map[string][]string{}
	for _, p := range pairs {
		m[p[0]] = append(m[p[0]], p[1])
	}
	return m
}

// headerPairs lists the request's headers; lower-cases the names for the
// triggers that do (HTTP APIs, ALBs). Hop-by-hop headers and
// Content-Length are not forwarded by any of them.
func headerPairs(r fixture.Request, lower bool) [][2]string {
	var out [][2]string
	for _, f := range r.Header {
		switch strings.ToLower(f.Name) {
		case "content-length", "connection", "transfer-encoding", "keep-alive":
			continue
		}
		name := f.Name
		if lower {
			name = strings.ToLower(name)
		}
		out = append(out, [2]string{name, f.Value})
	}
	return out
}

// body encodes a body as the triggers do: text as is, anything else (and
// everything, for forceBase64) in base64.
func body(b []byte, forceBase64 bool) (string, bool) {
	if !forceBase64 && utf8.Valid(b) {
		return string(b), false
	}
	return base64.StdEncoding.EncodeToString(b), len(b) > 0
}

func pathOf(r fixture.Request) string {
	p := r.Path()
	if d, err := url.PathUnescape(p); err == nil {
		return d
	}
	return p
}

var eventREST = eventShape{
	request: func(r fixture.Request, id string) any {
		_, q := splitQuery(r.URI)
		h := headerPairs(r, false)
		b, b64 := body(r.Body, false)
		return events.APIGatewayProxyRequest{
			Resource: "/{proxy+}", Path: pathOf(r), HTTPMethod: r.Method,
			Headers: single(h), MultiValueHeaders: multi(h),
			QueryStringParameters: single(q), MultiValueQueryStringParameters: multi(q),
			PathParameters: map[string]string{"proxy": strings.TrimPrefix(pathOf(r), "/")},
			RequestContext: events.APIGatewayProxyRequestContext{
				AccountID: "123456789012", Stage: "prod", RequestID: id, HTTPMethod: r.Method,
				ResourcePath: "/{proxy+}", Path: "/prod" + pathOf(r), Protocol: "HTTP/1.1",
				Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.10", UserAgent: r.Get("User-Agent")},
			},
			Body: b, IsBase64Encoded: b64,
		}
	},
	response: func(p []byte) (fixture.Response, error) {
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(p, &resp); err != nil {
			return fixture.Response{}, err
		}
		return decodeResponse(resp.StatusCode, resp.Headers, resp.MultiValueHeaders, resp.Body, resp.IsBase64Encoded)
	},
}

var eventHTTPAPI = eventShape{
	request: func(r fixture.Request, id string) any {
		_, q := splitQuery(r.URI)
		_, rawQuery, _ := strings.Cut(r.URI, "?")
		headers := map[string]string{}
		var cookies []string
		for _, p := range headerPairs(r, true) {
			if p[0] == "cookie" {
				for c := range strings.SplitSeq(p[1], ";") {
					cookies = append(cookies, strings.TrimSpace(c))
				}
				continue
			}
			if v, ok := headers[p[0]]; ok {
				headers[p[0]] = v + "," + p[1] // HTTP APIs join repeated headers
			} else {
				headers[p[0]] = p[1]
			}
		}
		qs := map[string]string{}
		for _, p := range q {
			if v, ok := qs[p[0]]; ok {
				qs[p[0]] = v + "," + p[1]
			} else {
				qs[p[0]] = p[1]
			}
		}
		if len(qs) == 0 {
			qs = nil
		}
		// HTTP APIs deliver form bodies base64-encoded.
		b, b64 := body(r.Body, true)
		return events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: r.Path(), RawQueryString: rawQuery,
			Cookies: cookies, Headers: headers, QueryStringParameters: qs,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RouteKey: "$default", AccountID: "123456789012", Stage: "$default", RequestID: id,
				APIID: "replay", DomainName: "localhost",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
					Method: r.Method, Path: pathOf(r), Protocol: "HTTP/1.1", SourceIP: "203.0.113.10", UserAgent: r.Get("User-Agent"),
				},
			},
			Body: b, IsBase64Encoded: b64,
		}
	},
	response: func(p []byte) (fixture.Response, error) {
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(p, &resp); err != nil {
			return fixture.Response{}, err
		}
		return decodeResponse(resp.StatusCode, resp.Headers, resp.MultiValueHeaders, resp.Body, resp.IsBase64Encoded)
	},
}

const targetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/switchboard/0123456789abcdef"

// albRequest builds an ALB target-group event. The ALB passes the query as
// received, still percent-encoded, and lower-cases header names.
func albRequest(r fixture.Request, multiValue bool) events.ALBTargetGroupRequest {
	raw, _ := splitQuery(r.URI)
	h := headerPairs(r, true)
	b, b64 := body(r.Body, false)
	ev := events.ALBTargetGroupRequest{
		HTTPMethod: r.Method, Path: r.Path(),
		RequestContext: events.ALBTargetGroupRequestContext{ELB: events.ELBContext{TargetGroupArn: targetGroupARN}},
		Body:           b, IsBase64Encoded: b64,
	}
	if multiValue {
		ev.MultiValueHeaders, ev.MultiValueQueryStringParameters = multi(h), multi(raw)
		if ev.MultiValueQueryStringParameters == nil {
			ev.MultiValueQueryStringParameters = map[string][]string{}
		}
	} else {
		ev.Headers, ev.QueryStringParameters = single(h), single(raw)
		if ev.QueryStringParameters == nil {
			ev.QueryStringParameters = map[string]string{}
		}
	}
	return ev
}

func albResponse(p []byte) (fixture.Response, error) {
	var resp events.ALBTargetGroupResponse
	if err := json.Unmarshal(p, &resp); err != nil {
		return fixture.Response{}, err
	}
	return decodeResponse(resp.StatusCode, resp.Headers, resp.MultiValueHeaders, resp.Body, resp.IsBase64Encoded)
}

var (
	eventALB = eventShape{
		request:  func(r fixture.Request, _ string) any { return albRequest(r, false) },
		response: albResponse,
	}
	eventALBMulti = eventShape{
		request:  func(r fixture.Request, _ string) any { return albRequest(r, true) },
		response: albResponse,
	}
)

func decodeResponse(status int, headers map[string]string, mv map[string][]string, b string, b64 bool) (fixture.Response, error) {
	out := fixture.Response{Status: status}
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Type") {
			out.ContentType = v
		}
	}
	for k, v := range mv {
		if strings.EqualFold(k, "Content-Type") && len(v) > 0 {
			out.ContentType = v[0]
		}
	}
	if !b64 {
		out.Body = []byte(b)
		return out, nil
	}
	raw, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		return out, fmt.Errorf("response body is not base64: %w", err)
	}
	out.Body = raw
	return out, nil
}
