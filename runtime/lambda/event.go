package lambda

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// kind is the event shape, which decides how the request is read and the
// response written.
type kind int

const (
	kindREST     kind = iota + 1 // API Gateway REST API, or HTTP API with payload 1.0
	kindHTTPAPI                  // HTTP API payload 2.0 or a function URL
	kindALB                      // ALB target group, single-value headers
	kindALBMulti                 // ALB target group, multi-value headers
)

// event is the union of the three HTTP event shapes. One pass of
// encoding/json fills it, and only the fields routing needs are declared,
// so authorizer claims and certificates cost nothing to skip.
type event struct {
	Version string `json:"version"`

	// REST and ALB.
	HTTPMethod                      string              `json:"httpMethod"`
	Path                            string              `json:"path"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`

	// HTTP API.
	RawPath        string   `json:"rawPath"`
	RawQueryString string   `json:"rawQueryString"`
	Cookies        []string `json:"cookies"`

	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestContext  struct {
		ELB *struct {
			TargetGroupArn string `json:"targetGroupArn"`
		} `json:"elb"`
		HTTP struct {
			Method   string `json:"method"`
			Path     string `json:"path"`
			SourceIP string `json:"sourceIp"`
		} `json:"http"`
		Identity struct {
			SourceIP string `json:"sourceIp"`
		} `json:"identity"`
		DomainName string `json:"domainName"`
		Stage      string `json:"stage"`
	} `json:"requestContext"`

	kind  kind
	lines []headerLine // headerLines' result, computed once
}

// parseEvent decodes a payload and recognises its shape: an "elb" request
// context marks an ALB (multi-value mode when it sent multiValue fields),
// version 2.0 or an "http" request context marks payload 2.0, and an
// httpMethod marks payload 1.0.
func parseEvent(payload []byte) (*event, error) {
	ev := new(event)
	if err := json.Unmarshal(payload, ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownEvent, err)
	}
	switch {
	case ev.RequestContext.ELB != nil && ev.HTTPMethod != "":
		ev.kind = kindALB
		if ev.MultiValueHeaders != nil || ev.MultiValueQueryStringParameters != nil {
			ev.kind = kindALBMulti
		}
	case ev.Version == "2.0" || (ev.HTTPMethod == "" && ev.RequestContext.HTTP.Method != ""):
		ev.kind = kindHTTPAPI
	case ev.HTTPMethod != "":
		ev.kind = kindREST
	default:
		return nil, ErrUnknownEvent
	}
	return ev, nil
}

func (ev *event) method() string {
	if ev.kind == kindHTTPAPI {
		return strings.ToUpper(ev.RequestContext.HTTP.Method)
	}
	return strings.ToUpper(ev.HTTPMethod)
}

func (ev *event) sourceIP() string {
	switch ev.kind {
	case kindHTTPAPI:
		return ev.RequestContext.HTTP.SourceIP
	case kindREST:
		return ev.RequestContext.Identity.SourceIP
	}
	return ""
}

// rawPath is the request path as the event carries it: percent-encoded from
// REST APIs, function URLs and ALBs, already decoded from HTTP APIs. Both
// go through escapePath, which leaves an encoded path unchanged.
func (ev *event) rawPath() string {
	p := ev.Path
	if ev.kind == kindHTTPAPI {
		p = ev.RawPath
		if p == "" {
			p = ev.RequestContext.HTTP.Path
		}
	}
	return p
}

// headerLines merges the event's headers into one value per name, in a
// stable order: multi-value maps are preferred when present, names that
// differ only in case are merged, and repeated values are joined with ","
// as HTTP APIs join them (or "; " for Cookie, which HTTP APIs and multi-value
// ALBs deliver one cookie at a time). Joining means the app sees the same
// header whichever event shape carried it.
func (ev *event) headerLines() []headerLine {
	if ev.lines != nil {
		return ev.lines
	}
	lines := []headerLine{}
	add := func(name string, values ...string) {
		key := canonicalHeader(name)
		i := slices.IndexFunc(lines, func(l headerLine) bool { return l.name == key })
		if i < 0 {
			lines = append(lines, headerLine{name: key})
			i = len(lines) - 1
		}
		lines[i].values = append(lines[i].values, values...)
	}
	if len(ev.MultiValueHeaders) > 0 {
		for _, k := range sortedKeys(ev.MultiValueHeaders) {
			add(k, ev.MultiValueHeaders[k]...)
		}
	} else {
		for _, k := range sortedKeys(ev.Headers) {
			add(k, ev.Headers[k])
		}
	}
	if len(ev.Cookies) > 0 {
		add("Cookie", ev.Cookies...)
	}
	ev.lines = lines
	return lines
}

// headerLine is one request header as the app will see it.
type headerLine struct {
	name   string
	values []string
}

func (l headerLine) value() string {
	sep := ","
	if l.name == "Cookie" {
		sep = "; "
	}
	return strings.Join(l.values, sep)
}

// lastForwardedFor is the right-most X-Forwarded-For entry, the only one
// not written by the client.
func lastForwardedFor(ev *event) string {
	for _, l := range ev.headerLines() {
		if l.name == "X-Forwarded-For" {
			v := l.value()
			if i := strings.LastIndexByte(v, ','); i >= 0 {
				v = v[i+1:]
			}
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
