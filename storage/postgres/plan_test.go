package postgres_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/storage"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// planNode is the part of EXPLAIN (FORMAT JSON) the plan test reads.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// TestListCallsPlan checks that every ListCalls filter reads a page as one
// range scan of the index made for it: no sequential scan, no sort, so the
// cost of a page does not grow with the number of calls.
func TestListCallsPlan(t *testing.T) {
	url := pgtest.MigratedURL(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Enough calls, spread over numbers and a year, mostly completed as in
	// life, that the planner would rather sort a scan than walk an index if
	// the right index were missing. PLAN_TEST_ROWS=1000000 checks the plans
	// at production size (about a minute).
	rows := 50000
	if v, err := strconv.Atoi(os.Getenv("PLAN_TEST_ROWS")); err == nil && v > 0 {
		rows = v
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at,
			assistant_id, assistant_version)
		SELECT 'CA' || lpad(to_hex(i), 32, '0'), 'AC0123456789abcdef0123456789abcdef',
			'+1415555' || lpad((i % 20)::text, 4, '0'), '+1628555' || lpad((i % 10)::text, 4, '0'), 'inbound',
			CASE WHEN i % 2000 = 3 THEN 'in-progress' ELSE
				CASE i % 50 WHEN 0 THEN 'busy' WHEN 1 THEN 'failed' WHEN 2 THEN 'no-answer' ELSE 'completed' END END,
			CASE WHEN i % 2000 = 3 THEN 4 ELSE 5 END,
			timestamptz '2026-01-01' + i * interval '10 minutes', timestamptz '2026-01-01' + i * interval '10 minutes',
			'as_' || lpad(to_hex(i % 40), 24, '0'), 1 + i % 3
		FROM generate_series(1, $1) AS i`, rows)
	if err != nil {
		t.Fatal(err)
	}
	// One caller among the many, as a number search usually looks for:
	// thirty calls over the year from +447700900123.
	_, err = conn.Exec(ctx, `
		INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at)
		SELECT 'CA' || lpad(to_hex(i), 32, 'f'), 'AC0123456789abcdef0123456789abcdef',
			'+447700900123', '+16285550001', 'inbound', CASE WHEN i % 3 = 0 THEN 'busy' ELSE 'completed' END, 5,
			timestamptz '2026-01-01' + i * interval '12 days', timestamptz '2026-01-01' + i * interval '12 days'
		FROM generate_series(1, 30) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE calls`); err != nil {
		t.Fatal(err)
	}
	assistant := "as_" + strings.Repeat("0", 22) + "07"
	cursor := storage.EncodeCursor(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), "CA"+strings.Repeat("0", 32))
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name   string
		filter storage.CallFilter
		index  []string // any of these is right
		// union, for a number search, is the index each of its two
		// branches reads, one per column.
		union []string
	}{
		{"Newest", storage.CallFilter{}, []string{"calls_created_idx"}, nil},
		{"NewestAfterCursor", storage.CallFilter{Cursor: cursor}, []string{"calls_created_idx"}, nil},
		{"SinceUntil", storage.CallFilter{Since: since, Until: until}, []string{"calls_created_idx"}, nil},
		{"Status", storage.CallFilter{Status: storage.StatusBusy}, []string{"calls_status_created_idx"}, nil},
		{"StatusAfterCursor", storage.CallFilter{Status: storage.StatusBusy, Cursor: cursor}, []string{"calls_status_created_idx"}, nil},
		{"From", storage.CallFilter{From: "+14155550012"}, []string{"calls_from_created_idx"}, nil},
		{"FromAfterCursor", storage.CallFilter{From: "+14155550012", Cursor: cursor}, []string{"calls_from_created_idx"}, nil},
		{"To", storage.CallFilter{To: "+16285550007"}, []string{"calls_to_created_idx"}, nil},
		{"ToSince", storage.CallFilter{To: "+16285550007", Since: since}, []string{"calls_to_created_idx"}, nil},
		{"FromAndTo", storage.CallFilter{From: "+14155550012", To: "+16285550002"}, []string{"calls_from_created_idx", "calls_to_created_idx"}, nil},
		{"Active", storage.CallFilter{Active: true}, []string{"calls_active_created_idx"}, nil},
		{"ActiveSince", storage.CallFilter{Active: true, Since: since}, []string{"calls_active_created_idx"}, nil},
		{"NumberFull", storage.CallFilter{Number: "+447700900123"}, nil, []string{"calls_from_created_idx", "calls_to_created_idx"}},
		{"NumberFullAfterCursor", storage.CallFilter{Number: "+447700900123", Cursor: cursor}, nil, []string{"calls_from_created_idx", "calls_to_created_idx"}},
		{"NumberLastFour", storage.CallFilter{Number: "0123"}, nil, []string{"calls_from_last4_idx", "calls_to_last4_idx"}},
		{"NumberLastSix", storage.CallFilter{Number: "900123"}, nil, []string{"calls_from_last4_idx", "calls_to_last4_idx"}},
		{"NumberLastFourAfterCursor", storage.CallFilter{Number: "0123", Cursor: cursor}, nil, []string{"calls_from_last4_idx", "calls_to_last4_idx"}},
		{"NumberStatusSince", storage.CallFilter{Number: "0123", Status: storage.StatusBusy, Since: since}, nil, []string{"calls_from_last4_idx", "calls_to_last4_idx"}},
		{"Assistant", storage.CallFilter{Assistant: assistant}, []string{"calls_assistant_created_idx"}, nil},
		{"AssistantAfterCursor", storage.CallFilter{Assistant: assistant, Cursor: cursor}, []string{"calls_assistant_created_idx"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args := postgres.ListQuery(tt.filter, storage.DefaultPageSize)
			var out []byte
			if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out); err != nil {
				t.Fatalf("EXPLAIN: %v", err)
			}
			var plans []struct{ Plan planNode }
			if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
				t.Fatalf("EXPLAIN output %s: %v", out, err)
			}
			var used []string
			plans[0].Plan.walk(func(n planNode) {
				switch n.NodeType {
				case "Seq Scan":
					t.Errorf("plan has a %s node:\n%s", n.NodeType, out)
				case "Sort", "Incremental Sort", "Bitmap Heap Scan":
					// A number search may gather a number's few calls
					// from its index and sort them: the sort is bounded
					// by the calls that match, not by the table.
					if tt.union == nil {
						t.Errorf("plan has a %s node:\n%s", n.NodeType, out)
					}
				case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
					used = append(used, n.IndexName)
					// The cursor must bound the scan, not filter its rows.
					if tt.filter.Cursor != "" && !strings.Contains(n.IndexCond, "ROW(created_at, sid) <") {
						t.Errorf("the cursor is not an index condition (%q):\n%s", n.IndexCond, out)
					}
				}
			})
			if tt.union != nil {
				slices.Sort(used)
				if !slices.Equal(used, tt.union) {
					t.Errorf("plan scans indexes %v, want %v:\n%s", used, tt.union, out)
				}
				return
			}
			if len(used) != 1 || !contains(tt.index, used[0]) {
				t.Errorf("plan scans indexes %v, want one of %v:\n%s", used, tt.index, out)
			}
		})
	}
}

// TestAnalysisFilterPlan checks that analysis.<field>=<value> filters are
// answered by an index, never by a scan of every call's analysis: a rare
// value by calls_analysis_idx (jsonb containment on a GIN index), a bitmap
// of the matching calls sorted for the page, which costs in the number of
// matches; a common one either so or by walking calls_created_idx newest
// first until a page of matches is found, which costs in the page size
// over the value's frequency. The plans are logged.
func TestAnalysisFilterPlan(t *testing.T) {
	url := pgtest.MigratedURL(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows := 50000
	if v, err := strconv.Atoi(os.Getenv("PLAN_TEST_ROWS")); err == nil && v > 0 {
		rows = v
	}
	// Half the calls have no analysis (before any schema), the others one
	// of 500 reasons; a nested field too.
	_, err = conn.Exec(ctx, `
		INSERT INTO calls (sid, status, status_rank, created_at, updated_at, assistant_id, analysis, analysis_version, analyzed_at)
		SELECT 'CA' || lpad(to_hex(i), 32, '0'), 'completed', 5,
			timestamptz '2026-01-01' + i * interval '10 minutes', timestamptz '2026-01-01' + i * interval '10 minutes',
			'as_' || lpad(to_hex(i % 40), 24, '0'),
			CASE WHEN i % 2 = 0 THEN jsonb_build_object('reason', 'reason ' || (i % 500), 'booked', i % 7 = 0,
				'callback', jsonb_build_object('number', '+1' || (i % 1000))) END,
			1, timestamptz '2026-01-01' + i * interval '10 minutes'
		FROM generate_series(1, $1) AS i`, rows)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE calls`); err != nil {
		t.Fatal(err)
	}
	match := func(k, v string) storage.AnalysisMatch {
		m, err := storage.ParseAnalysisMatch(k, v)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tt := range []struct {
		name   string
		filter storage.CallFilter
		// common: a value common enough that walking calls_created_idx
		// newest first may find a page of matches sooner than the bitmap
		// (the planner decides from the sampled values, and does so at
		// 50,000 and at 1,000,000 calls differently); either plan is right.
		common bool
	}{
		{"Field", storage.CallFilter{Analysis: []storage.AnalysisMatch{match("analysis.reason", "reason 42")}}, true},
		{"NestedField", storage.CallFilter{Analysis: []storage.AnalysisMatch{match("analysis.callback.number", "+1998")}}, false},
		{"TwoFields", storage.CallFilter{Analysis: []storage.AnalysisMatch{match("analysis.reason", "reason 42"), match("analysis.booked", "true")}}, false},
		{"FieldSinceUntil", storage.CallFilter{Analysis: []storage.AnalysisMatch{match("analysis.reason", "reason 42")},
			Since: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)}, false},
		{"FrequentValue", storage.CallFilter{Analysis: []storage.AnalysisMatch{match("analysis.booked", "true")}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, args := postgres.ListQuery(tt.filter, storage.DefaultPageSize)
			var out []byte
			if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out); err != nil {
				t.Fatalf("EXPLAIN: %v", err)
			}
			var plans []struct{ Plan planNode }
			if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
				t.Fatalf("EXPLAIN output %s: %v", out, err)
			}
			gin, ordered := false, false
			plans[0].Plan.walk(func(n planNode) {
				if n.NodeType == "Seq Scan" {
					t.Errorf("plan has a Seq Scan:\n%s", out)
				}
				if n.IndexName == "calls_analysis_idx" && strings.Contains(n.IndexCond, "analysis @>") {
					gin = true
				}
				ordered = ordered || n.NodeType == "Index Scan" && n.IndexName == "calls_created_idx"
			})
			if !gin && !(tt.common && ordered) {
				t.Errorf("the analysis filter is not an index condition on calls_analysis_idx:\n%s", out)
			}
			var text strings.Builder
			trows, err := conn.Query(ctx, "EXPLAIN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			for trows.Next() {
				var line string
				if err := trows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				text.WriteString(line + "\n")
			}
			t.Logf("%s at %d calls:\n%s", tt.name, rows, text.String())
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
