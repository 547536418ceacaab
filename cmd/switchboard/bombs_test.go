package main

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"switchboard/handlers/fixture"
	"switchboard/handlers/twiliotest"
)

// compressZeros compresses n zero bytes (a whole number of MiB) with each
// encoding in turn. A gzip layer is built as n/1 MiB copies of one gzip
// member of 1 MiB of zeros — a valid multi-member gzip stream that inflates
// to n bytes, made in the time of compressing one MiB (the race detector
// makes compressing a gigabyte take minutes).
func compressZeros(t *testing.T, n int, encodings ...string) []byte {
	t.Helper()
	var out []byte
	for i, enc := range encodings {
		var b bytes.Buffer
		var w io.WriteCloser
		switch enc {
		case "gzip":
			w, _ = gzip.NewWriterLevel(&b, gzip.BestCompression)
		case "deflate":
			w, _ = flate.NewWriter(&b, flate.BestSpeed)
		case "br":
			w = brotli.NewWriterLevel(&b, 4)
		}
		var src io.Reader = bytes.NewReader(out)
		if i == 0 {
			src = io.LimitReader(zeros{}, int64(n))
			if enc == "gzip" {
				src = io.LimitReader(zeros{}, 1<<20)
			}
		}
		if _, err := io.Copy(w, src); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out = b.Bytes()
		if i == 0 && enc == "gzip" {
			out = bytes.Repeat(out, n>>20)
		}
	}
	return out
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// peakRSS reads the process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestCompressedBombsCostNoMemory runs the real binary and sends it
// compression bombs a few kilobytes long that would inflate to hundreds of
// megabytes or a gigabyte, signed and unsigned, on webhooks and the API.
// Every one is refused with 415, and the server's peak memory does not grow
// beyond a small multiple of the body limit.
func TestCompressedBombsCostNoMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatal("this test reads the server's peak memory from /proc")
	}
	bombs := []struct {
		name, encoding string
		body           []byte
		inflated       int
	}{
		{"gzip, gzip", "gzip, gzip", compressZeros(t, 1<<30, "gzip", "gzip"), 1 << 30},
		{"gzip", "gzip", compressZeros(t, 48<<20, "gzip"), 48 << 20},
		{"deflate", "deflate", compressZeros(t, 16<<20, "deflate"), 16 << 20},
		{"br", "br", compressZeros(t, 64<<20, "br"), 64 << 20},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"=1", "LISTEN_ADDR="+addr, "DATA_DIR="+t.TempDir(),
		"PUBLIC_BASE_URL="+fixture.BaseURL, "TWILIO_AUTH_TOKEN="+fixture.DevAuthToken, "API_TOKENS=bomb-test-token-0123456789",
		"LOG_LEVEL=error", "SHUTDOWN_DRAIN_DELAY=0s", "WORKERS=0", "HTTP_BODY_LIMIT=65536")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	call := twiliotest.NewCall("AC" + strings.Repeat("b", 32))
	send := func(path, encoding string, body []byte, signed bool) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Content-Encoding", encoding)
		req.Header.Set("Authorization", "Bearer bomb-test-token-0123456789")
		if signed {
			req.Header.Set("X-Twilio-Signature", twiliotest.Sign(fixture.DevAuthToken, fixture.BaseURL+path, call.Form()))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", encoding, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Warm up with ordinary traffic, then start the peak from here.
	for range 20 {
		send("/twilio/voice", "identity", []byte(call.Form().Encode()), true)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak: %v", err)
	}
	before := peakRSS(t, pid)
	for _, b := range bombs {
		if len(b.body) > 64<<10 {
			t.Fatalf("%s bomb is %d bytes, over the body limit", b.name, len(b.body))
		}
		for range 5 {
			for _, target := range []struct {
				path   string
				signed bool
			}{{"/twilio/voice", false}, {"/twilio/voice", true}, {"/twilio/status", true}, {"/api/v1/calls", false}} {
				if st := send(target.path, b.encoding, b.body, target.signed); st != http.StatusUnsupportedMediaType {
					t.Fatalf("%s to %s: status %d", b.name, target.path, st)
				}
			}
		}
		t.Logf("%s: %d bytes that inflate to %d MiB: refused 20 times", b.name, len(b.body), b.inflated>>20)
	}
	after := peakRSS(t, pid)
	growth := after - before
	t.Logf("server peak RSS %.1f MiB before the bombs, %.1f MiB after: growth %.1f MiB", float64(before)/(1<<20), float64(after)/(1<<20), float64(growth)/(1<<20))
	// The smallest bomb inflates to 16 MiB; the body limit is 64 KiB.
	if growth > 8<<20 {
		t.Errorf("peak memory grew by %d bytes while refusing bombs", growth)
	}
}
