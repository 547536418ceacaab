package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// wavHeaderSize is the canonical 44-byte header of a PCM WAV file.
const wavHeaderSize = 44

// mediaPath matches the media and delete URLs switchboard's worker uses.
var mediaPath = regexp.MustCompile(`^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Recordings/(RE[0-9a-fA-F]{32})(\.wav|\.json)?$`)

// media fakes Twilio's recording media endpoints with generated audio.
type media struct {
	size  int64
	token string

	mu      sync.Mutex
	deleted map[string]bool
	sums    map[string]string // SHA-256 by recording SID, computed on demand
}

func newMedia(size int64, token string) *media {
	return &media{size: size, token: token, deleted: map[string]bool{}, sums: map[string]string{}}
}

func (m *media) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	match := mediaPath.FindStringSubmatch(r.URL.Path)
	if match == nil {
		http.NotFound(w, r)
		return
	}
	account, sid, ext := match[1], match[2], match[3]
	if m.token != "" {
		user, pass, ok := r.BasicAuth()
		if !ok || user != account || subtle.ConstantTimeCompare([]byte(pass), []byte(m.token)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
	}
	m.mu.Lock()
	gone := m.deleted[sid]
	m.mu.Unlock()
	switch {
	case r.Method == http.MethodDelete && ext == ".json":
		if gone {
			http.NotFound(w, r)
			return
		}
		m.mu.Lock()
		m.deleted[sid] = true
		m.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && ext != ".json":
		if gone {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "audio/x-wav")
		w.Header().Set("Content-Length", strconv.FormatInt(m.size, 10))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = io.Copy(w, m.audio(sid))
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveSHA256 answers the hex SHA-256 of a recording's media, computed once
// by generating it.
func (m *media) serveSHA256(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	if !strings.HasPrefix(sid, "RE") || len(sid) != 34 {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	sum, ok := m.sums[sid]
	m.mu.Unlock()
	if !ok {
		h := sha256.New()
		if _, err := io.Copy(h, m.audio(sid)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sum = hex.EncodeToString(h.Sum(nil))
		m.mu.Lock()
		m.sums[sid] = sum
		m.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, sum+"\n")
}

// audio is the recording's media: a WAV header for 8 kHz 16-bit mono PCM,
// then samples drawn from a ChaCha8 stream seeded by the SID, so the bytes
// are reproducible and do not compress.
func (m *media) audio(sid string) io.Reader {
	hdr := make([]byte, wavHeaderSize)
	data := uint32(min(m.size-wavHeaderSize, 1<<32-1-36))
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], 36+data)
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)   // fmt chunk size
	binary.LittleEndian.PutUint16(hdr[20:], 1)    // PCM
	binary.LittleEndian.PutUint16(hdr[22:], 1)    // channels
	binary.LittleEndian.PutUint32(hdr[24:], 8000) // sample rate
	binary.LittleEndian.PutUint32(hdr[28:], 16000)
	binary.LittleEndian.PutUint16(hdr[32:], 2)  // block align
	binary.LittleEndian.PutUint16(hdr[34:], 16) // bits per sample
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], data)
	seed := sha256.Sum256([]byte(sid))
	return io.MultiReader(strings.NewReader(string(hdr)), io.LimitReader(rand.NewChaCha8(seed), m.size-wavHeaderSize))
}
