package redact_test

import (
	"testing"

	"switchboard/storage/redact"
)

// BenchmarkText redacts every utterance of the corpus once per iteration:
// what REDACT=all adds to storing a turn.
func BenchmarkText(b *testing.B) {
	corpus := readCorpus(b)
	bytes := 0
	for _, u := range corpus {
		bytes += len(u.said)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		for _, u := range corpus {
			redact.Text(u.said)
		}
	}
}
