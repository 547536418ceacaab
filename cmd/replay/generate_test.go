package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"switchboard/handlers/fixture"
)

var update = flag.Bool("update", false, "regenerate testdata/webhooks from the scenarios (requests and goldens)")

// webhooksDir holds the checked-in fixture sets.
const webhooksDir = "../../testdata/webhooks"

// generate drives every scenario through a fresh in-process server whose
// capture hook writes the fixtures, so each fixture is a real capture and
// each golden the answer the server gave.
func generate(t *testing.T, root string) {
	t.Helper()
	for name, steps := range scenarios() {
		dir := filepath.Join(root, name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		capt, err := fixture.NewCapturer(fixture.CaptureOptions{Dir: dir, Queue: 64})
		if err != nil {
			t.Fatal(err)
		}
		l, err := startLocal(appOptions{Capture: capt.Hook})
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range steps {
			send(t, l.URL, name, i, st)
		}
		l.Close()
		capt.Close()
		if written, dropped, failed := capt.Stats(); written != int64(len(steps)) || dropped+failed != 0 {
			t.Fatalf("%s: captured %d of %d webhooks (%d dropped, %d failed)", name, written, len(steps), dropped, failed)
		}
	}
}

// send delivers one step as Twilio would to the dev server: its headers,
// the Host the dev server sees, the signature for fixture.BaseURL.
func send(t *testing.T, base, scenario string, i int, st step) {
	t.Helper()
	body, ct := st.form.Encode(), "application/x-www-form-urlencoded"
	if st.contentType != "" {
		body, ct = st.rawBody, st.contentType
	}
	req, err := http.NewRequest(http.MethodPost, base+st.path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = strings.TrimPrefix(fixture.BaseURL, "http://")
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", scenario, i))
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Cache-Control", "max-age=259200")
	req.Header.Set("Content-Type", ct)
	req.Header.Set("I-Twilio-Idempotency-Token", fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16]))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Home-Region", "us1")
	if !st.noSignature {
		req.Header.Set("X-Twilio-Signature", st.signature())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestFixturesAreCurrent regenerates every scenario and requires the
// checked-in files to be byte for byte what the server captures now: a
// change to the handlers' answers, or to the capture format, shows up here
// first. -update rewrites testdata/webhooks.
func TestFixturesAreCurrent(t *testing.T) {
	if *update {
		generate(t, webhooksDir)
	}
	fresh := t.TempDir()
	generate(t, fresh)
	for name := range scenarios() {
		want := readFiles(t, filepath.Join(webhooksDir, name))
		got := readFiles(t, filepath.Join(fresh, name))
		if len(want) == 0 {
			t.Errorf("%s: no checked-in fixtures (run go test ./cmd/replay -run TestFixturesAreCurrent -update)", name)
			continue
		}
		for _, f := range sortedKeys(want, got) {
			if !bytes.Equal(want[f], got[f]) {
				t.Errorf("%s/%s differs from a fresh capture (run go test ./cmd/replay -run TestFixturesAreCurrent -update):\n--- checked in\n%s\n--- captured now\n%s", name, f, want[f], got[f])
			}
		}
	}
}

func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func sortedKeys(maps ...map[string][]byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
