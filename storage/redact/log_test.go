package redact_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"switchboard/storage/redact"
)

// TestLogCorpus logs every utterance of the corpus the ways code logs
// what callers say (message, attribute, error, group, attribute added
// with With) and checks the log line holds what the store would, never
// the utterance's personal data.
func TestLogCorpus(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil)))
	leaks := 0
	for _, u := range readCorpus(t) {
		if u.said == "" {
			continue
		}
		buf.Reset()
		log.With("said", u.said).WithGroup("turn").Info("caller said "+u.said, "text", u.said,
			"err", errors.New("provider refused: "+u.said), slog.Group("g", "words", []string{u.said}))
		line := buf.String()
		t.Logf("logged: %s", strings.TrimSpace(line))
		want := redact.String(u.said)
		if n := strings.Count(line, jsonText(want)); n != 5 {
			t.Errorf("corpus.tsv:%d: the log line holds the redacted text %d times, want 5: %s", u.line, n, line)
		}
		if len(u.kinds) > 0 && u.said != want && strings.Contains(line, jsonText(u.said)) {
			leaks++
			t.Errorf("corpus.tsv:%d: logged unredacted: %s", u.line, line)
		}
	}
	t.Logf("log lines with personal data left in: %d", leaks)
}

// jsonText is s as it appears inside a JSON string.
func jsonText(s string) string {
	var b strings.Builder
	h := slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey {
			return slog.Attr{}
		}
		return a
	}})
	slog.New(h).Info("", "s", s)
	out := strings.TrimSpace(b.String())
	// {"s":"..."}
	return strings.TrimSuffix(strings.TrimPrefix(out, `{"s":"`), `"}`)
}

func TestHandlerWrapsOnce(t *testing.T) {
	h := redact.NewHandler(slog.NewTextHandler(&bytes.Buffer{}, nil))
	if redact.NewHandler(h) != h {
		t.Error("wrapping a redacting handler again wrapped it twice")
	}
}
