package openai_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"switchboard/assistant/openai/openaitest"
	"switchboard/storage"
)

// BenchmarkReplyOverhead measures what switchboard adds to a turn beyond the
// provider's own latency: history building, JSON encoding through the SDK,
// HTTP over a kept-alive connection, decoding, speech shaping, metrics and
// the log record. The fake takes a fixed providerDelay per request; the
// reported overhead is the time per Reply minus that delay, and its ratio
// to the delay.
func BenchmarkReplyOverhead(b *testing.B) {
	const providerDelay = 20 * time.Millisecond
	f := openaitest.New(b, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(providerDelay)
		openaitest.WriteJSON(w, http.StatusOK, openaitest.Completion("We are open from eight in the morning until six in the evening, Monday to Saturday."))
	})
	env := mustAssistant(b, f.BaseURL(), nil)

	// A realistic mid-call history: ten turns before the caller's latest words.
	c := conversation()
	for n := 1; n <= 10; n++ {
		c.Turns = append(c.Turns,
			caller(n, "Could you tell me a little more about your opening hours and prices?"),
			storage.Turn{Number: n, Role: storage.RoleAssistant, Text: "Of course. We open at eight and our bread starts at three dollars."})
	}
	c.Turns = append(c.Turns, caller(11, "And on Sundays?"))
	ctx := context.Background()

	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := env.a.Reply(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	perOp := time.Since(start) / time.Duration(b.N)
	overhead := perOp - providerDelay
	b.ReportMetric(float64(overhead.Nanoseconds()), "overhead-ns/op")
	b.ReportMetric(float64(overhead)/float64(providerDelay), "overhead/delay")
}

// BenchmarkRawHTTPBaseline is the floor for BenchmarkReplyOverhead: the same
// fake and delay reached by a bare net/http POST of a pre-encoded request,
// so the difference between the two is what the SDK and the shared layer
// cost rather than loopback HTTP, the fake's own work and timer slack.
func BenchmarkRawHTTPBaseline(b *testing.B) {
	const providerDelay = 20 * time.Millisecond
	f := openaitest.New(b, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(providerDelay)
		openaitest.WriteJSON(w, http.StatusOK, openaitest.Completion("We are open from eight in the morning until six in the evening, Monday to Saturday."))
	})
	body := []byte(`{"model":"test-model","messages":[{"role":"system","content":"You answer calls."},{"role":"user","content":"And on Sundays?"}],"max_tokens":150}`)
	client := &http.Client{}
	b.Cleanup(client.CloseIdleConnections)

	start := time.Now()
	for b.Loop() {
		res, err := client.Post(f.BaseURL()+"/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	overhead := time.Since(start)/time.Duration(b.N) - providerDelay
	b.ReportMetric(float64(overhead.Nanoseconds()), "overhead-ns/op")
	b.ReportMetric(float64(overhead)/float64(providerDelay), "overhead/delay")
}
