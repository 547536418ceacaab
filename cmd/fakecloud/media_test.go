package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testSID     = "RE0123456789abcdef0123456789abcdef"
	testToken   = "media-token"
)

// mustMediaServer serves the fake's routes as run() wires them.
func mustMediaServer(t *testing.T, size int64, token string) *httptest.Server {
	t.Helper()
	m := newMedia(size, token)
	mux := http.NewServeMux()
	mux.Handle("/2010-04-01/", m)
	mux.HandleFunc("GET /_fakecloud/recordings/{sid}/sha256", m.serveSHA256)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func mediaRequest(t *testing.T, method, u, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.SetBasicAuth(testAccount, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestMedia(t *testing.T) {
	const size = 3<<20 + 7
	srv := mustMediaServer(t, size, testToken)
	recording := srv.URL + "/2010-04-01/Accounts/" + testAccount + "/Recordings/" + testSID

	t.Run("OK/ReproducibleWAV", func(t *testing.T) {
		st, first := mediaRequest(t, http.MethodGet, recording+".wav", testToken)
		if st != http.StatusOK || len(first) != size {
			t.Fatalf("GET media: %d, %d bytes; want 200, %d", st, len(first), size)
		}
		if string(first[0:4]) != "RIFF" || string(first[8:16]) != "WAVEfmt " || string(first[36:40]) != "data" ||
			binary.LittleEndian.Uint32(first[40:]) != size-wavHeaderSize {
			t.Errorf("not a WAV header for %d data bytes: % x", size-wavHeaderSize, first[:wavHeaderSize])
		}
		if _, again := mediaRequest(t, http.MethodGet, recording, testToken); string(again) != string(first) {
			t.Error("the same SID served different bytes")
		}
		st, sum := mediaRequest(t, http.MethodGet, srv.URL+"/_fakecloud/recordings/"+testSID+"/sha256", "")
		want := sha256.Sum256(first)
		if st != http.StatusOK || strings.TrimSpace(string(sum)) != hex.EncodeToString(want[:]) {
			t.Errorf("sha256 endpoint: %d %q, want %x", st, sum, want)
		}
	})
	t.Run("WrongToken/Unauthorized", func(t *testing.T) {
		if st, _ := mediaRequest(t, http.MethodGet, recording+".wav", "wrong"); st != http.StatusUnauthorized {
			t.Errorf("GET with a wrong token: %d, want 401", st)
		}
		if st, _ := mediaRequest(t, http.MethodGet, recording+".wav", ""); st != http.StatusUnauthorized {
			t.Errorf("GET without credentials: %d, want 401", st)
		}
	})
	t.Run("Deleted/NotFound", func(t *testing.T) {
		other := strings.Replace(recording, testSID, "RE"+strings.Repeat("f", 32), 1)
		if st, _ := mediaRequest(t, http.MethodDelete, other+".json", testToken); st != http.StatusNoContent {
			t.Fatalf("DELETE: %d, want 204", st)
		}
		if st, _ := mediaRequest(t, http.MethodGet, other+".wav", testToken); st != http.StatusNotFound {
			t.Errorf("GET after DELETE: %d, want 404", st)
		}
		if st, _ := mediaRequest(t, http.MethodDelete, other+".json", testToken); st != http.StatusNotFound {
			t.Errorf("second DELETE: %d, want 404", st)
		}
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"44": 44, "512KiB": 512 << 10, "8MiB": 8 << 20, "2GiB": 2 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "12MB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}
