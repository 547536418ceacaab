package ssmenv

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeParam is one stored parameter. SecureStrings keep their plaintext and
// a stand-in ciphertext, which is what SSM returns without WithDecryption.
type fakeParam struct {
	Name, Type, Value string
}

// fakeSSM speaks the AWS JSON 1.1 protocol for AmazonSSM.GetParametersByPath
// over real HTTP, with SSM's path semantics and NextToken pagination, so the
// real SDK client (serializer, paginator, error decoding) is exercised.
type fakeSSM struct {
	pageSize int
	params   []fakeParam

	mu       sync.Mutex
	requests []fakeRequest
	deny     bool
}

// fakeRequest is the part of a request the tests check.
type fakeRequest struct {
	Path           string
	Recursive      bool
	WithDecryption bool
	NextToken      string
}

// mustFakeSSM starts the fake and returns it with its URL; it is shut down
// when the test ends.
func mustFakeSSM(t *testing.T, pageSize int, params ...fakeParam) (*fakeSSM, string) {
	t.Helper()
	f := &fakeSSM{pageSize: pageSize, params: params}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// denyAll makes every later request fail as IAM would without
// ssm:GetParametersByPath.
func (f *fakeSSM) denyAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deny = true
}

func (f *fakeSSM) recorded() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeSSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		writeError(w, http.StatusBadRequest, "SerializationException", "not an AWS JSON 1.1 request")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not signed")
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "AmazonSSM.GetParametersByPath" {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation "+target)
		return
	}
	var in struct {
		Path           string
		Recursive      bool
		WithDecryption bool
		NextToken      string
		MaxResults     int
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{in.Path, in.Recursive, in.WithDecryption, in.NextToken})
	deny := f.deny
	f.mu.Unlock()
	if deny {
		writeError(w, http.StatusBadRequest, "AccessDeniedException",
			"User: arn:aws:sts::123456789012:assumed-role/switchboard/i-0abc is not authorized to perform: ssm:GetParametersByPath on resource: arn:aws:ssm:eu-west-1:123456789012:parameter"+in.Path)
		return
	}

	matching := f.under(in.Path, in.Recursive)
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(in.NextToken, "page-"))
		if err != nil || n <= 0 || n > len(matching) {
			writeError(w, http.StatusBadRequest, "InvalidNextToken", "The specified token is not valid.")
			return
		}
		start = n
	}
	end := min(start+f.pageSize, len(matching))
	type outParam struct {
		Name, Type, Value, ARN, DataType string
		Version                          int
	}
	out := struct {
		Parameters []outParam
		NextToken  string `json:",omitempty"`
	}{Parameters: []outParam{}}
	for _, p := range matching[start:end] {
		value := p.Value
		if p.Type == "SecureString" && !in.WithDecryption {
			value = "AQICAHh-encrypted-" + strconv.Itoa(len(p.Value))
		}
		out.Parameters = append(out.Parameters, outParam{
			Name: p.Name, Type: p.Type, Value: value, DataType: "text", Version: 1,
			ARN: "arn:aws:ssm:eu-west-1:123456789012:parameter" + p.Name,
		})
	}
	if end < len(matching) {
		out.NextToken = "page-" + strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// under applies SSM's hierarchy rules: without Recursive only the path's
// direct children are returned.
func (f *fakeSSM) under(path string, recursive bool) []fakeParam {
	prefix := strings.TrimSuffix(path, "/") + "/"
	var out []fakeParam
	for _, p := range f.params {
		rest, ok := strings.CutPrefix(p.Name, prefix)
		if !ok || (!recursive && strings.Contains(rest, "/")) {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.ssm#" + code, "message": msg})
}
