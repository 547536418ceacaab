package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"switchboard/handlers/fixture"
)

// replayCmd runs the command's main logic and returns its exit status and
// output.
func replayCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return code, out.String()
}

func fixtureCount(t *testing.T, dir string) int {
	t.Helper()
	sc, err := findScenarios([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return countFixtures(sc)
}

// TestGoldens pins the webhooks' behaviour: every checked-in fixture,
// replayed through every runtime, gets exactly its golden response.
func TestGoldens(t *testing.T) {
	total := fixtureCount(t, webhooksDir)
	if total < 40 {
		t.Fatalf("only %d fixtures found in %s", total, webhooksDir)
	}
	for _, rt := range runtimeNames {
		t.Run(rt+"/OK", func(t *testing.T) {
			code, out := replayCmd(t, "-runtime", rt, webhooksDir)
			want := strconv.Itoa(total) + " passed, 0 failed\n"
			if code != 0 || !strings.HasSuffix(out, want) {
				t.Errorf("exit %d, want 0 and %q:\n%s", code, want, out)
			}
		})
	}
}

// copyScenario copies one checked-in scenario into a temp folder.
func copyScenario(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(webhooksDir, name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReplayMismatch(t *testing.T) {
	t.Run("ExitsNonZeroWithDiff", func(t *testing.T) {
		dir := copyScenario(t, "whole-conversation")
		golden := filepath.Join(dir, "003-gather-turn1.golden")
		g, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, bytes.Replace(g, []byte("nine in the morning"), []byte("ten in the morning"), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := replayCmd(t, dir)
		if code != 1 {
			t.Errorf("exit %d, want 1:\n%s", code, out)
		}
		for _, want := range []string{"FAIL  whole-conversation  003-gather-turn1  200 (want 200)", "mismatch (-want +got):", "\n  -", "\n  +", "6 passed, 1 failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("ExitsNonZeroWhenGoldenMissing", func(t *testing.T) {
		dir := copyScenario(t, "caller-silence")
		if err := os.Remove(filepath.Join(dir, "002-gather-turn1-silence1.golden")); err != nil {
			t.Fatal(err)
		}
		code, out := replayCmd(t, dir)
		if code != 1 || !strings.Contains(out, "no golden file") {
			t.Errorf("exit %d, want 1 naming the missing golden:\n%s", code, out)
		}
	})
	t.Run("ExitsNonZeroWhenServerUnreachable", func(t *testing.T) {
		code, out := replayCmd(t, "--url", "http://127.0.0.1:1", filepath.Join(webhooksDir, "caller-silence"))
		if code != 1 || !strings.Contains(out, "error:") || !strings.Contains(out, "0 passed, 4 failed") {
			t.Errorf("exit %d, want 1 with errors:\n%s", code, out)
		}
	})
	t.Run("UsageErrors", func(t *testing.T) {
		for _, args := range [][]string{{}, {"-runtime", "lambda-nope", webhooksDir}, {"--url", "localhost:8080", webhooksDir}} {
			if code, out := replayCmd(t, args...); code != 2 {
				t.Errorf("%q: exit %d, want 2:\n%s", args, code, out)
			}
		}
		if code, out := replayCmd(t, t.TempDir()); code != 1 || !strings.Contains(out, "no fixtures") {
			t.Errorf("empty folder: exit %d, want 1:\n%s", code, out)
		}
	})
}

func TestReplayUpdateRewritesGoldens(t *testing.T) {
	dir := copyScenario(t, "whole-conversation")
	want := map[string][]byte{}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.golden"))
	for _, g := range matches {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		want[g] = b
		if err := os.Remove(g); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := replayCmd(t, "-update", dir); code != 0 || !strings.Contains(out, "(updated)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for g, w := range want {
		got, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w) {
			t.Errorf("%s rewritten as\n%s\nwant\n%s", g, got, w)
		}
	}
}

// TestReplayAgainstURL replays against a running server with another auth
// token: every request is re-signed for it, except the ones whose signature
// must stay invalid. (Its public URL must be the fixtures' own: the voice
// answer names it in the recording callback.)
func TestReplayAgainstURL(t *testing.T) {
	const public, token = fixture.BaseURL, "staging-auth-token-0123456789"
	l, err := startLocal(appOptions{BaseURL: public, AuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	total := fixtureCount(t, webhooksDir)

	t.Run("OKResigned", func(t *testing.T) {
		code, out := replayCmd(t, "--url", l.URL, "--public-url", public, "--auth-token", token, webhooksDir)
		if code != 0 || !strings.HasSuffix(out, strconv.Itoa(total)+" passed, 0 failed\n") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		// The same traffic a second time: the handlers are idempotent, so
		// a server that has seen it all answers the same.
		code, out = replayCmd(t, "--url", l.URL, "--public-url", public, "--auth-token", token, webhooksDir)
		if code != 0 {
			t.Errorf("second replay: exit %d:\n%s", code, out)
		}
	})
	t.Run("ErrCapturedSignaturesRefused", func(t *testing.T) {
		code, out := replayCmd(t, "--url", l.URL, "--auth-token", "", filepath.Join(webhooksDir, "caller-silence"))
		if code != 1 || !strings.Contains(out, "403 (want 200)") {
			t.Errorf("exit %d, want 403 mismatches:\n%s", code, out)
		}
	})
}

func TestProgressIndicator(t *testing.T) {
	var out bytes.Buffer
	r := &reporter{out: &out, progress: true, total: 2}
	r.step("a/001-voice")
	r.pass("a", "001-voice", 200, "")
	r.step("a/002-status")
	r.fail("a", "002-status", "204 (want 200)", "")
	r.summary()
	s := out.String()
	for _, want := range []string{"[1/2] a/001-voice", "[2/2] a/002-status", "\r\033[KPASS  a  001-voice  200\n", "1 passed, 1 failed\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q: %q", want, s)
		}
	}
	if isTerminal(&out) {
		t.Error("a buffer is not a terminal")
	}
}

// TestFixtureFilesReadAsHTTP checks the promise of the format on the
// checked-in files: every request parses, and its signature annotation is
// where the scenario needs it.
func TestFixtureFilesReadAsHTTP(t *testing.T) {
	sc, err := findScenarios([]string{webhooksDir})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		for _, fx := range s.fixtures {
			keep := fx.Request.Signature == fixture.SignatureKeep
			if want := s.name == "invalid-signature"; keep != want {
				t.Errorf("%s/%s: signature %q", s.name, fx.Name, fx.Request.Signature)
			}
			if fx.Golden == nil {
				t.Errorf("%s/%s: no golden", s.name, fx.Name)
			}
		}
	}
}
