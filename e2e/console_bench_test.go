package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// consoleBenchCalls is how many calls the console benchmark's database
// holds.
const consoleBenchCalls = 100_000

// BenchmarkConsoleCallList renders the console's call list from a
// PostgreSQL database of 100,000 calls over 90 days (2,000 callers, three
// business numbers, 2% busy or unanswered, a few calls in progress, each
// with an analysis of five reasons and a follow-up flag), for
// each kind of filter and a page deep in the history, and the live view,
// signed in, over loopback HTTP. Reported, beside ns/op (the whole request as the client
// sees it):
//
//	server-ms/page  the server's own time per page: the request-duration
//	                histogram of the route, from the first middleware to
//	                the last byte handed to the connection
//	p99-ms          the 99th percentile of the client-side time
//
// It asserts nothing about speed: make bench prints the figures.
func BenchmarkConsoleCallList(b *testing.B) {
	dbURL := pgtest.MigratedURL(b)
	seedBenchCalls(b, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, storeConfig(dbURL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	in := servicetest.Start(b, servicetest.Options{Calls: store, NoWorkers: true})
	client := benchSignIn(b, in)

	deep, err := store.ListCalls(ctx, storage.CallFilter{Limit: 1, Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil || deep.NextCursor == "" {
		b.Fatalf("a cursor deep in the history: %v", err)
	}
	for _, bc := range []struct{ name, query string }{
		{"Newest", ""},
		{"Status", "status=busy"},
		{"NumberFull", "number=" + url.QueryEscape("+447700900123")},
		{"NumberLastFour", "number=0123"},
		{"NumberLastSix", "number=900123"},
		{"Days", "since=2026-02-01&until=2026-02-07"},
		{"DeepCursor", "cursor=" + deep.NextCursor},
		{"NumberStatusDays", "number=0123&status=completed&since=2026-01-15&until=2026-03-15"},
		{"Analysis", "analysis.reason=complaint"},
		{"AnalysisAndNumber", "analysis.follow_up=true&number=0123"},
		{"Live", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			route := "/console/calls"
			if bc.name == "Live" {
				route = "/console/live" // the calls in progress
			}
			path := route
			if bc.query != "" {
				path += "?" + bc.query
			}
			sum0, n0 := routeTime(b, in, route)
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				resp, err := client.Get(in.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				took = append(took, time.Since(start))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
			}
			sum1, n1 := routeTime(b, in, route)
			if n1 > n0 {
				b.ReportMetric((sum1-sum0)/float64(n1-n0)*1000, "server-ms/page")
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// seedBenchCalls fills the database in one statement.
func seedBenchCalls(b *testing.B, dbURL string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `
		INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at, ended_at, duration, analysis)
		SELECT 'CA' || lpad(to_hex(i), 32, '0'), 'AC0123456789abcdef0123456789abcdef',
			'+447700' || lpad((900000 + (i * 7919) % 2000)::text, 6, '0'),
			'+1800555' || lpad((100 + i % 3)::text, 4, '0'), 'inbound',
			CASE WHEN i > $1 - 5 THEN 'in-progress' WHEN i % 50 = 0 THEN 'busy' WHEN i % 50 = 1 THEN 'no-answer' ELSE 'completed' END,
			CASE WHEN i > $1 - 5 THEN 4 ELSE 5 END,
			t, t, t + interval '3 minutes', 180,
			jsonb_build_object('reason', (ARRAY['hours', 'booking', 'billing', 'directions', 'complaint'])[1 + i % 5],
				'follow_up', i % 7 = 0)
		FROM generate_series(1, $1) AS i,
			LATERAL (SELECT timestamptz '2026-01-01' + i * (interval '90 days' / $1) AS t) AS at`, consoleBenchCalls)
	if err != nil {
		b.Fatal(err)
	}
	// As autovacuum leaves a table that filled over 90 days: statistics
	// gathered, visibility map and hint bits set (else the first pages
	// read pay for writing them).
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE calls`); err != nil {
		b.Fatal(err)
	}
}

// benchSignIn signs a client in to the console.
func benchSignIn(b *testing.B, in *servicetest.Instance) *http.Client {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := client.Get(in.URL + "/console/sign-in")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		b.Fatalf("no sign-in form:\n%s", body)
	}
	form := url.Values{"nonce": {string(m[1])}, "token": {servicetest.APIToken}}
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/console/sign-in", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/calls" {
		b.Fatalf("sign in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	return client
}

// routeTime reads the request-duration histogram of a route: the seconds
// its GETs took in all and how many there were.
func routeTime(b *testing.B, in *servicetest.Instance, route string) (float64, uint64) {
	b.Helper()
	families, err := in.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	var n uint64
	for _, f := range families {
		if f.GetName() != "switchboard_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["method"] == http.MethodGet && labels["status"] == "200" {
				sum += m.GetHistogram().GetSampleSum()
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return sum, n
}
