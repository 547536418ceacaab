package twiliotest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
)

// Fault is one programmed answer of the media server.
type Fault struct {
	Status int // answered instead of the media; 0 serves the media
	// Hang blocks until the request is cancelled (a download that stalls).
	Hang bool
	// CutAfter serves this many bytes and then drops the connection.
	CutAfter int64
}

// Media is a fake of Twilio's recording media and delete endpoints:
// GET /2010-04-01/Accounts/{AC}/Recordings/{RE}.wav and DELETE ….json.
type Media struct {
	*httptest.Server
	AccountSID, AuthToken string

	mu      sync.Mutex
	audio   map[string][]byte  // by recording SID
	faults  map[string][]Fault // consumed in order, per recording SID
	gets    map[string]int
	deletes map[string]int
	// block, when set for a SID, holds its downloads until closed.
	block map[string]chan struct{}
	// started is signalled when a download begins (if non-nil).
	started chan string
}

// NewMedia starts a media server that requires HTTP Basic auth with the
// given account and token.
func NewMedia(accountSID, authToken string) *Media {
	m := &Media{
		AccountSID: accountSID, AuthToken: authToken,
		audio: map[string][]byte{}, faults: map[string][]Fault{},
		gets: map[string]int{}, deletes: map[string]int{}, block: map[string]chan struct{}{},
	}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	return m
}

// Add makes audio available for a recording and returns its RecordingUrl.
func (m *Media) Add(recSID string, audio []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.audio[recSID] = audio
	return m.RecordingURL(recSID)
}

// RecordingURL is the RecordingUrl Twilio would send for recSID.
func (m *Media) RecordingURL(recSID string) string {
	return m.URL + "/2010-04-01/Accounts/" + m.AccountSID + "/Recordings/" + recSID
}

// Fail programs the next answers for a recording, before it is served.
func (m *Media) Fail(recSID string, faults ...Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults[recSID] = append(m.faults[recSID], faults...)
}

// Block holds downloads of recSID until the returned function is called.
func (m *Media) Block(recSID string) (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.block[recSID] = ch
	m.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Started returns a channel that receives a recording SID each time a
// download of it begins.
func (m *Media) Started() <-chan string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started == nil {
		m.started = make(chan string, 64)
	}
	return m.started
}

// Gets and Deletes count requests per recording.
func (m *Media) Gets(recSID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets[recSID]
}

// Deletes counts DELETE requests for a recording.
func (m *Media) Deletes(recSID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deletes[recSID]
}

// SHA256 returns the hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (m *Media) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != m.AccountSID || pass != m.AuthToken {
		http.Error(w, `{"code":20003,"message":"Authenticate"}`, http.StatusUnauthorized)
		return
	}
	prefix := "/2010-04-01/Accounts/" + m.AccountSID + "/Recordings/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(rest, ".wav"):
		m.get(w, r, strings.TrimSuffix(rest, ".wav"))
	case r.Method == http.MethodDelete && strings.HasSuffix(rest, ".json"):
		sid := strings.TrimSuffix(rest, ".json")
		m.mu.Lock()
		m.deletes[sid]++
		_, exists := m.audio[sid]
		delete(m.audio, sid)
		m.mu.Unlock()
		if !exists {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (m *Media) get(w http.ResponseWriter, r *http.Request, sid string) {
	m.mu.Lock()
	m.gets[sid]++
	var f Fault
	if q := m.faults[sid]; len(q) > 0 {
		f, m.faults[sid] = q[0], q[1:]
	}
	audio, exists := m.audio[sid]
	block := m.block[sid]
	started := m.started
	m.mu.Unlock()
	if started != nil {
		select {
		case started <- sid:
		default:
		}
	}
	switch {
	case f.Hang:
		<-r.Context().Done()
		return
	case f.Status != 0:
		http.Error(w, http.StatusText(f.Status), f.Status)
		return
	case !exists:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "audio/x-wav")
	w.Header().Set("Content-Length", itoa(len(audio)))
	if block != nil {
		// Send part of the body, then wait: a download in the middle.
		half := len(audio) / 2
		_, _ = w.Write(audio[:half])
		w.(http.Flusher).Flush()
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(audio[half:])
		return
	}
	if f.CutAfter > 0 {
		_, _ = io.Copy(w, bytes.NewReader(audio[:min(int(f.CutAfter), len(audio))]))
		w.(http.Flusher).Flush()
		if hj, ok := w.(http.Hijacker); ok {
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
		}
		return
	}
	_, _ = w.Write(audio)
}

func itoa(n int) string { return strconv.Itoa(n) }
