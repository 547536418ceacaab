package redact_test

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"switchboard/storage/redact"
)

// utterance is one line of testdata/corpus.tsv.
type utterance struct {
	line  int
	kinds []redact.Kind // what it holds
	said  string
	want  string // what must be stored
}

func readCorpus(t testing.TB) []utterance { return readUtterances(t, "testdata/corpus.tsv", 50) }

// readUtterances reads a file of utterances (corpus.tsv's columns) and
// fails unless it has at least min of them.
func readUtterances(t testing.TB, path string, min int) []utterance {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []utterance
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3 {
			t.Fatalf("%s:%d: want 3 tab-separated columns, got %d", path, n, len(cols))
		}
		u := utterance{line: n, said: cols[1], want: cols[2]}
		if u.want == "=" {
			u.want = u.said
		}
		if cols[0] != "-" {
			for k := range strings.SplitSeq(cols[0], ",") {
				if !slices.Contains(redact.Kinds, redact.Kind(k)) {
					t.Fatalf("%s:%d: unknown kind %q", path, n, k)
				}
				u.kinds = append(u.kinds, redact.Kind(k))
			}
		}
		out = append(out, u)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < min {
		t.Fatalf("%s has %d utterances; it is meant to have at least %d", path, len(out), min)
	}
	return out
}

// TestCorpus redacts every utterance of the corpus and counts, by kind,
// the personal data found that was not there (false positives) and the
// personal data there that was not found (false negatives). Every
// utterance must come out exactly as the corpus says it is stored.
func TestCorpus(t *testing.T) { measure(t, readCorpus(t)) }

// TestHeldOut measures the rules the same way on utterances written after
// them (testdata/heldout.tsv).
func TestHeldOut(t *testing.T) { measure(t, readUtterances(t, "testdata/heldout.tsv", 30)) }

func measure(t *testing.T, corpus []utterance) {
	fp, fn := map[redact.Kind]int{}, map[redact.Kind]int{}
	withData, clean, cleanChanged := 0, 0, 0
	for _, u := range corpus {
		got, kinds := redact.Text(u.said)
		t.Logf("stored: %-70q ← %q", got, u.said)
		if got != u.want {
			t.Errorf("line %d: Text(%q) = %q, want %q", u.line, u.said, got, u.want)
		}
		missing, extra := diffKinds(u.kinds, kinds)
		for _, k := range missing {
			fn[k]++
		}
		for _, k := range extra {
			fp[k]++
		}
		if len(u.kinds) == 0 {
			clean++
			if got != u.said {
				cleanChanged++
			}
		} else {
			withData++
		}
	}
	total := func(m map[redact.Kind]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	t.Logf("%d utterances: %d with personal data, %d without", len(corpus), withData, clean)
	for _, k := range redact.Kinds {
		t.Logf("  %-5s false positives %d, false negatives %d", k, fp[k], fn[k])
	}
	t.Logf("false positives %d (clean utterances changed: %d), false negatives %d", total(fp), cleanChanged, total(fn))
	if total(fp) != 0 || total(fn) != 0 || cleanChanged != 0 {
		t.Errorf("false positives %v, false negatives %v, clean utterances changed %d; want none", fp, fn, cleanChanged)
	}
}

// diffKinds returns the kinds of want not in got and those of got not in
// want, as multisets.
func diffKinds(want, got []redact.Kind) (missing, extra []redact.Kind) {
	left := slices.Clone(got)
	for _, k := range want {
		if i := slices.Index(left, k); i >= 0 {
			left = slices.Delete(left, i, i+1)
		} else {
			missing = append(missing, k)
		}
	}
	return missing, left
}

func TestNothingLeaks(t *testing.T) {
	// Whatever the corpus's personal data was, none of its digits or
	// addresses survive.
	secrets := []string{"4111 1111 1111 1111", "5555-5555", "378282246310005", "078-05-1120", "jane.doe", "0132", "7946", "example dot com", "4242, 4242", "gmail.com"}
	for _, u := range readCorpus(t) {
		if len(u.kinds) == 0 {
			continue
		}
		got := redact.String(u.said)
		for _, secret := range secrets {
			if strings.Contains(got, secret) {
				t.Errorf("%q still holds %q after redaction: %q", u.said, secret, got)
			}
		}
	}
}

func TestKindsInOrder(t *testing.T) {
	_, kinds := redact.Text("mail a@b.co, card 4111111111111111, phone 415-555-0132, again x@y.io")
	want := []redact.Kind{redact.Email, redact.Card, redact.Phone, redact.Email}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v (in order of appearance)", kinds, want)
	}
}

func FuzzText(f *testing.F) {
	for _, u := range readCorpus(f) {
		f.Add(u.said)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, kinds := redact.Text(s)
		if len(kinds) == 0 && got != s {
			t.Fatalf("changed %q to %q without finding anything", s, got)
		}
		if again, more := redact.Text(got); again != got || len(more) != 0 {
			t.Fatalf("redacting %q twice changed it again: %q %v", got, again, more)
		}
	})
}
