package lambda_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchboard/runtime/lambda"
)

// seen is the part of an echo a case pins exactly; Headers lists only the
// headers the case is about.
type seen struct {
	Method, Path, Decoded, RawQuery string
	Query                           map[string][]string
	Cookies                         map[string]string
	Body                            []byte
	IP, Host                        string
	Headers                         map[string]string
}

func seenOf(e echo, headers map[string]string) seen {
	s := seen{
		Method: e.Method, Path: e.Path, Decoded: e.Decoded, RawQuery: e.RawQuery,
		Query: e.Query, Cookies: e.Cookies, Body: e.Body, IP: e.IP, Host: e.Host,
		Headers: map[string]string{},
	}
	for k := range headers {
		s.Headers[k] = absent
		if v, ok := e.Headers[k]; ok {
			s.Headers[k] = strings.Join(v, "|")
		}
	}
	return s
}

// absent stands for a header the app must not see.
const absent = "<absent>"

// get is a plain GET /echo from a client, the starting point of most cases.
var get = request{method: "GET", path: "/echo", ip: "203.0.113.5"}

func with(ev map[string]any, edit func(map[string]any)) map[string]any {
	edit(ev)
	return ev
}

func reqCtx(ev map[string]any) map[string]any { return ev["requestContext"].(map[string]any) }

// TestOddButValidEvents covers events the upstream adapter answers 500 or
// 504 to, or misroutes, each asserting what the app receives.
func TestOddButValidEvents(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 2048)
	urlSafe := binaryBody[240:] // encodes to base64 with '-' and '_' in the URL alphabet
	cases := []struct {
		name  string
		opts  []lambda.Option
		event map[string]any
		want  seen
	}{
		{
			name:  "Base64BinaryBodyDecoded",
			event: restEvent(request{method: "POST", path: "/echo", body: binaryBody, binary: true, ip: "203.0.113.5"}),
			want:  seen{Method: "POST", Path: "/echo", Decoded: "/echo", Body: binaryBody, IP: "203.0.113.5", Host: domain},
		},
		{
			name: "UnpaddedURLSafeBase64BodyDecoded",
			event: with(httpAPIEvent(request{method: "POST", path: "/echo", ip: "203.0.113.5"}), func(m map[string]any) {
				m["body"], m["isBase64Encoded"] = base64.RawURLEncoding.EncodeToString(urlSafe), true
			}),
			want: seen{Method: "POST", Path: "/echo", Decoded: "/echo", Body: urlSafe, IP: "203.0.113.5", Host: domain},
		},
		{
			name:  "NonUTF8BodyCarried",
			event: albEvent(request{method: "POST", path: "/echo", body: []byte("caf\xe9"), binary: true, ip: "203.0.113.5"}, false),
			want:  seen{Method: "POST", Path: "/echo", Decoded: "/echo", Body: []byte("caf\xe9"), IP: "203.0.113.5", Host: domain},
		},
		{
			name:  "PercentEncodedRESTPathKeptEncoded",
			event: restEvent(request{method: "GET", path: "/echo/a%20b%2Fc", ip: "203.0.113.5"}),
			want:  seen{Method: "GET", Path: "/echo/a%20b%2Fc", Decoded: "/echo/a b/c", IP: "203.0.113.5", Host: domain},
		},
		{
			name: "DecodedHTTPAPIPathWithQuestionMarkAndHashKeptWhole",
			event: with(httpAPIEvent(get), func(m map[string]any) {
				m["rawPath"], m["rawQueryString"] = "/echo/what?#x y", "q=1"
			}),
			want: seen{
				Method: "GET", Path: "/echo/what%3F%23x%20y", Decoded: "/echo/what?#x y", RawQuery: "q=1",
				Query: map[string][]string{"q": {"1"}}, IP: "203.0.113.5", Host: domain,
			},
		},
		{
			name:  "BarePercentInPathRouted",
			event: restEvent(request{method: "GET", path: "/echo/100%", ip: "203.0.113.5"}),
			want:  seen{Method: "GET", Path: "/echo/100%25", Decoded: "/echo/100%", IP: "203.0.113.5", Host: domain},
		},
		{
			name: "RepeatedRESTQueryValuesKeptInOrder",
			event: restEvent(request{method: "GET", path: "/echo", ip: "203.0.113.5",
				query: [][2]string{{"a", "x y"}, {"a", "&="}, {"b", "2"}, {"b", "1"}}}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", RawQuery: "a=x+y&a=%26%3D&b=2&b=1",
				Query: map[string][]string{"a": {"x y", "&="}, "b": {"2", "1"}}, IP: "203.0.113.5", Host: domain,
			},
		},
		{
			name: "SingleValueRESTQueryUsedWithoutMultiValue",
			event: with(restEvent(get), func(m map[string]any) {
				m["queryStringParameters"], m["multiValueQueryStringParameters"] = map[string]string{"q": "a+b"}, nil
			}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", RawQuery: "q=a%2Bb",
				Query: map[string][]string{"q": {"a+b"}}, IP: "203.0.113.5", Host: domain,
			},
		},
		{
			name: "ALBEncodedQueryNotEncodedTwice",
			event: with(albEvent(get, false), func(m map[string]any) {
				m["queryStringParameters"] = map[string]string{"from": "2022-09-20T04%3A11%3A02", "name": "a%20b+c", "flag": ""}
			}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", RawQuery: "flag=&from=2022-09-20T04%3A11%3A02&name=a%20b+c",
				Query: map[string][]string{"flag": {""}, "from": {"2022-09-20T04:11:02"}, "name": {"a b c"}},
				IP:    "203.0.113.5", Host: domain,
			},
		},
		{
			name: "ALBMultiValueCookiesAllKept",
			event: with(albEvent(get, true), func(m map[string]any) {
				m["multiValueHeaders"].(map[string][]string)["cookie"] = []string{"a=1", "b=2"}
			}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", Cookies: map[string]string{"a": "1", "b": "2"},
				IP: "203.0.113.5", Host: domain, Headers: map[string]string{"Cookie": "a=1; b=2"},
			},
		},
		{
			name:  "HTTPAPICookiesFieldAllKept",
			event: httpAPIEvent(request{method: "GET", path: "/echo", ip: "203.0.113.5", cookie: "a=1; b=2; c=x=y"}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", Cookies: map[string]string{"a": "1", "b": "2", "c": "x=y"},
				IP: "203.0.113.5", Host: domain,
			},
		},
		{
			name: "NullHeaderMapsRouted",
			event: with(restEvent(get), func(m map[string]any) {
				m["headers"], m["multiValueHeaders"] = nil, nil
			}),
			want: seen{Method: "GET", Path: "/echo", Decoded: "/echo", IP: "203.0.113.5", Host: domain},
		},
		{
			name:  "MissingRequestContextRouted",
			event: map[string]any{"httpMethod": "GET", "path": "/echo/min"},
			want:  seen{Method: "GET", Path: "/echo/min", Decoded: "/echo/min", IP: "0.0.0.0"},
		},
		{
			name: "IPv6SourceIPKept",
			event: with(httpAPIEvent(get), func(m map[string]any) {
				reqCtx(m)["http"].(map[string]any)["sourceIp"] = "2001:db8::1"
			}),
			want: seen{Method: "GET", Path: "/echo", Decoded: "/echo", IP: "2001:db8::1", Host: domain},
		},
		{
			name: "ConsoleTestInvokeSourceFallsBackToForwardedFor",
			event: with(restEvent(get), func(m map[string]any) {
				reqCtx(m)["identity"] = map[string]any{"sourceIp": "test-invoke-source-ip"}
			}),
			want: seen{Method: "GET", Path: "/echo", Decoded: "/echo", IP: "203.0.113.5", Host: domain},
		},
		{
			name:  "ALBForwardedForRightMostEntryUsed",
			event: albEvent(request{method: "GET", path: "/echo", ip: "198.51.100.1, 203.0.113.7"}, true),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", IP: "203.0.113.7", Host: domain,
				Headers: map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
			},
		},
		{
			name: "HTTPAPINamedStagePrefixStripped",
			event: with(httpAPIEvent(get), func(m map[string]any) {
				m["rawPath"] = "/prod/echo/x"
				reqCtx(m)["stage"] = "prod"
			}),
			want: seen{Method: "GET", Path: "/echo/x", Decoded: "/echo/x", IP: "203.0.113.5", Host: domain},
		},
		{
			// The app strips PUBLIC_BASE_URL's path itself (handlers), so the
			// adapter passes a custom-domain base path through as it came.
			name:  "CustomDomainBasePathKept",
			event: restEvent(request{method: "GET", path: "/echo/api/x", ip: "203.0.113.5"}),
			want:  seen{Method: "GET", Path: "/echo/api/x", Decoded: "/echo/api/x", IP: "203.0.113.5", Host: domain},
		},
		{
			name:  "LowercaseMethodRouted",
			event: httpAPIEvent(request{method: "post", path: "/echo", ip: "203.0.113.5"}),
			want:  seen{Method: "POST", Path: "/echo", Decoded: "/echo", IP: "203.0.113.5", Host: domain},
		},
		{
			name: "HeaderNamesDifferingInCaseMerged",
			event: with(restEvent(get), func(m map[string]any) {
				mv := m["multiValueHeaders"].(map[string][]string)
				mv["X-Dup"], mv["x-dup"] = []string{"a"}, []string{"b"}
			}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", IP: "203.0.113.5", Host: domain,
				Headers: map[string]string{"X-Dup": "a,b"},
			},
		},
		{
			name: "CommasInHTTPAPIHeaderValuesKept",
			event: with(httpAPIEvent(get), func(m map[string]any) {
				h := m["headers"].(map[string]string)
				h["if-modified-since"], h["x-list"] = "Wed, 21 Oct 2015 07:28:00 GMT", "a, b"
			}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", IP: "203.0.113.5", Host: domain,
				Headers: map[string]string{"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT", "X-List": "a, b"},
			},
		},
		{
			name:  "VeryLongHeaderKept",
			event: restEvent(request{method: "GET", path: "/echo", ip: "203.0.113.5", headers: [][2]string{{"X-Long", long}}}),
			want: seen{
				Method: "GET", Path: "/echo", Decoded: "/echo", IP: "203.0.113.5", Host: domain,
				Headers: map[string]string{"X-Long": long},
			},
		},
		{
			name: "StaleContentLengthIgnored",
			event: httpAPIEvent(request{method: "POST", path: "/echo", ip: "203.0.113.5", body: []byte("hello"),
				headers: [][2]string{{"Content-Length", "0"}}}),
			want: seen{
				Method: "POST", Path: "/echo", Decoded: "/echo", Body: []byte("hello"), IP: "203.0.113.5", Host: domain,
				Headers: map[string]string{"Content-Length": "5"},
			},
		},
		{
			name: "ChunkedTransferEncodingIgnored",
			event: restEvent(request{method: "POST", path: "/echo", ip: "203.0.113.5", body: []byte("hello"),
				headers: [][2]string{{"Transfer-Encoding", "chunked"}}}),
			want: seen{
				Method: "POST", Path: "/echo", Decoded: "/echo", Body: []byte("hello"), IP: "203.0.113.5", Host: domain,
				Headers: map[string]string{"Transfer-Encoding": absent, "Content-Length": "5"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := mustHandler(t, tc.opts...)
			got := mustInvoke(t, h, t.Context(), tc.event)
			if got.Status != http.StatusOK {
				t.Fatalf("status %d, body %s", got.Status, got.Body)
			}
			if diff := cmp.Diff(tc.want, seenOf(decodeEcho(t, got), tc.want.Headers), cmpopts.EquateEmpty(), bodyEqual); diff != "" {
				t.Errorf("echo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeadRequest(t *testing.T) {
	h, _ := mustHandler(t)
	for _, s := range shapes {
		t.Run(s.name+"/AnsweredWithoutBody", func(t *testing.T) {
			got := mustInvoke(t, h, t.Context(), s.build(request{method: "HEAD", path: "/healthz", ip: "203.0.113.5"}))
			if got.Status != http.StatusOK || len(got.Body) != 0 {
				t.Fatalf("got %d %q, want 200 and no body", got.Status, got.Body)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Run("OverLimitAnswered413WithoutCallingApp", func(t *testing.T) {
		h, ta := mustHandler(t, lambda.WithBodyLimit(1024))
		for _, s := range shapes {
			got := mustInvoke(t, h, t.Context(), s.build(request{method: "POST", path: "/echo", ip: "203.0.113.5",
				body: make([]byte, 1025), binary: true}))
			if got.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: status %d, want 413", s.name, got.Status)
			}
		}
		if n := ta.calls.Load(); n != 0 {
			t.Errorf("app called %d times, want 0", n)
		}
	})
	t.Run("AtLimitRouted", func(t *testing.T) {
		h, _ := mustHandler(t, lambda.WithBodyLimit(1024))
		big := mustInvoke(t, h, t.Context(), restEvent(request{method: "POST", path: "/echo", ip: "203.0.113.5",
			body: make([]byte, 1024), binary: true}))
		if e := decodeEcho(t, big); big.Status != http.StatusOK || len(e.Body) != 1024 {
			t.Fatalf("status %d with %d bytes, want 200 with 1024", big.Status, len(e.Body))
		}
	})
	t.Run("DefaultLimitIsOneMiB", func(t *testing.T) {
		h, _ := mustHandler(t)
		got := mustInvoke(t, h, t.Context(), restEvent(request{method: "POST", path: "/echo", ip: "203.0.113.5",
			body: make([]byte, lambda.DefaultBodyLimit+1), binary: true}))
		if lambda.DefaultBodyLimit != 1<<20 || got.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("limit %d, status %d; want 1 MiB and 413", lambda.DefaultBodyLimit, got.Status)
		}
	})
}

func TestInvalidBase64BodyAnswered400(t *testing.T) {
	h, ta := mustHandler(t)
	ev := with(restEvent(get), func(m map[string]any) { m["body"], m["isBase64Encoded"] = "not*base64!", true })
	got := mustInvoke(t, h, t.Context(), ev)
	if got.Status != http.StatusBadRequest || ta.calls.Load() != 0 {
		t.Fatalf("status %d after %d app calls, want 400 and none", got.Status, ta.calls.Load())
	}
}

func TestUnknownPayloadRejected(t *testing.T) {
	h, _ := mustHandler(t)
	for name, payload := range map[string]string{
		"SQSEvent":    `{"Records":[{"messageId":"1","body":"x","eventSource":"aws:sqs"}]}`,
		"NotJSON":     `<xml/>`,
		"EmptyObject": `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			out, err := h.Invoke(t.Context(), []byte(payload))
			if !errors.Is(err, lambda.ErrUnknownEvent) || out != nil {
				t.Fatalf("got %q, %v; want ErrUnknownEvent", out, err)
			}
		})
	}
}
