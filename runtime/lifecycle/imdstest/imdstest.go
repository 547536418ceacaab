// Package imdstest is an in-process fake of the EC2 instance metadata
// service's IMDSv2 session protocol and its Auto Scaling target lifecycle
// state item, for tests: a token from PUT /latest/api/token (the TTL
// header required, as IMDSv2 requires it), the state from GET
// /latest/meta-data/autoscaling/target-lifecycle-state with that token
// (401 without it).
package imdstest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
)

// Server is the fake metadata service.
type Server struct {
	*httptest.Server
	mu    sync.Mutex
	state string
	// Reads counts the state reads answered.
	Reads atomic.Int64
}

const token = "imdstest-token"

// New starts a fake whose target state is InService.
func New() *Server {
	s := &Server{state: "InService"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetState changes the target lifecycle state (Terminated on scale-in).
func (s *Server) SetState(state string) {
	s.mu.Lock()
	s.state = state
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
		if ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")); err != nil || ttl < 1 || ttl > 21600 {
			http.Error(w, "bad TTL", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(token))
	case r.URL.Path == "/latest/meta-data/autoscaling/target-lifecycle-state" && r.Method == http.MethodGet:
		if r.Header.Get("X-aws-ec2-metadata-token") != token {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		s.Reads.Add(1)
		s.mu.Lock()
		state := s.state
		s.mu.Unlock()
		_, _ = w.Write([]byte(state))
	default:
		http.NotFound(w, r)
	}
}
