package readmodel_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

const benchRows = 1_000_000

// benchEpoch is when the first generated execution was created; one is created every
// 7.776 s after it, so the million span 90 days.
var benchEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// loadExecutionsSQL fills the executions table with $1 rows in one statement, straight into
// the table (the projector's cost is BenchmarkProject's business). The mix is a busy
// installation's: 80% completed, 10% failed, a few running, scheduled or timed out; 200
// actions; 70% of runs started by one of 500 rules on one of 20 triggers; 30% workflow
// children, three per parent; 5% carry one of 1,000 trace tags.
const loadExecutionsSQL = `
INSERT INTO executions (id, action, runner_type, status, parameters, result, exit_code,
    output_truncated, parent, rule, trigger, enforcement, worker, runtime, trace_tag,
    created_at, started_at, finished_at, updated_at, version, position_major, position_minor)
SELECT md5(i::text), 'pack' || (i % 20) || '.action' || (i % 200),
    'shell', st,
    '{"message": "hello", "count": 3}'::jsonb,
    CASE WHEN st = 'completed' THEN '{"ok": true}'::jsonb END,
    CASE WHEN st = 'completed' THEN 0 WHEN st = 'failed' THEN 1 END,
    false,
    CASE WHEN i % 10 BETWEEN 1 AND 3 THEN md5((i - i % 10)::text) END,
    CASE WHEN i % 10 >= 4 THEN 'pack' || (i % 20) || '.rule' || (i % 500) END,
    CASE WHEN i % 10 >= 4 THEN 'core.trigger' || (i % 20) END,
    CASE WHEN i % 10 >= 4 THEN md5('enf' || i) END,
    'worker-' || (i % 8), 'shell',
    CASE WHEN i % 20 = 0 THEN 'deploy-' || (i / 20 % 1000) END,
    at, at + interval '1 second',
    CASE WHEN st NOT IN ('running', 'scheduled') THEN at + interval '3 seconds' END,
    at + interval '3 seconds', 4, i, i
FROM (SELECT i, $2::timestamptz + i * interval '7.776 seconds' AS at,
        CASE WHEN i % 100 < 80 THEN 'completed' WHEN i % 100 < 90 THEN 'failed'
             WHEN i % 100 < 95 THEN 'running' WHEN i % 100 < 98 THEN 'scheduled'
             ELSE 'timeout' END AS st
      FROM generate_series(1, $1::int) AS i) g`

func loadExecutions(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	if _, err := pool.Exec(ctx, loadExecutionsSQL, benchRows, benchEpoch); err != nil {
		b.Fatalf("load %d executions: %v", benchRows, err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE executions`); err != nil {
		b.Fatalf("analyze executions: %v", err)
	}
	b.Logf("loaded %d executions in %s", benchRows, time.Since(start).Round(time.Millisecond))
}

// benchID is the id of generated row i.
func benchID(b *testing.B, pool *pgxpool.Pool, i int) string {
	var id string
	if err := pool.QueryRow(context.Background(), `SELECT md5($1::text)`, fmt.Sprint(i)).Scan(&id); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkReadExecutions measures the API's reads of the executions read model with a
// million rows: a page of 50 with each filter, deep pages through the keyset cursor, and a
// single get. Each iteration varies the filter's value so no single row set stays hot.
// p50 and p99 are per call, in milliseconds. The load takes a minute or so, which is why
// -short skips it.
// Run: go test ./adapters/readmodel -run '^$' -bench ReadExecutions -benchtime 2s
func BenchmarkReadExecutions(b *testing.B) {
	if testing.Short() {
		b.Skip("loads 1,000,000 executions; run without -short")
	}
	s := pgtest.New(b)
	loadExecutions(b, s.Pool)
	db := readmodel.New(s.Pool)
	ctx := context.Background()

	// Cursors into the middle of the list: page 2+ of an unfiltered and of a filtered list.
	mid := benchRows / 2
	midCursor := executions.Cursor(executions.Execution{
		ID: benchID(b, s.Pool, mid), CreatedAt: benchEpoch.Add(time.Duration(mid) * 7776 * time.Millisecond),
	})
	deep, err := db.ListExecutions(ctx, executions.Filter{Status: []execution.Status{execution.Failed}, Limit: 50, Cursor: midCursor})
	if err != nil || deep.Next == "" {
		b.Fatalf("find a deep page of failed executions: %v", err)
	}
	parents := make([]string, 64)
	for i := range parents {
		parents[i] = benchID(b, s.Pool, (i*15_601+10)/10*10) // row ids ending in 0 have children
	}

	lists := []struct {
		name   string
		filter func(i int) executions.Filter
	}{
		{"all", func(int) executions.Filter { return executions.Filter{} }},
		{"status", func(i int) executions.Filter {
			return executions.Filter{Status: []execution.Status{[]execution.Status{execution.Failed, execution.Timeout, execution.Running}[i%3]}}
		}},
		{"status_any", func(int) executions.Filter {
			return executions.Filter{Status: []execution.Status{execution.Running, execution.Scheduled}}
		}},
		{"action", func(i int) executions.Filter {
			return executions.Filter{Action: fmt.Sprintf("pack%d.action%d", i%200%20, i%200)}
		}},
		{"rule", func(i int) executions.Filter {
			r := (i*7)%500 + 4 // rows with i%10 >= 4 carry rule i%500, so r%10 >= 4
			if r%10 < 4 {
				r += 4
			}
			return executions.Filter{Rule: fmt.Sprintf("pack%d.rule%d", r%20, r%500)}
		}},
		{"trigger", func(i int) executions.Filter {
			// Rule-started rows (i%10 >= 4) carry trigger i%20, so only these twelve occur.
			t := []int{4, 5, 6, 7, 8, 9, 14, 15, 16, 17, 18, 19}[i%12]
			return executions.Filter{Trigger: fmt.Sprintf("core.trigger%d", t)}
		}},
		{"parent", func(i int) executions.Filter { return executions.Filter{Parent: parents[i%len(parents)]} }},
		{"trace_tag", func(i int) executions.Filter { return executions.Filter{TraceTag: fmt.Sprintf("deploy-%d", i%1000)} }},
		{"since_until_1day", func(i int) executions.Filter {
			since := benchEpoch.Add(time.Duration(i%89) * 24 * time.Hour)
			return executions.Filter{Since: since, Until: since.Add(24 * time.Hour)}
		}},
		{"action_since", func(i int) executions.Filter {
			return executions.Filter{Action: fmt.Sprintf("pack%d.action%d", i%200%20, i%200), Since: benchEpoch.Add(30 * 24 * time.Hour)}
		}},
		{"page_deep", func(int) executions.Filter { return executions.Filter{Cursor: midCursor} }},
		{"page_deep_status", func(int) executions.Filter {
			return executions.Filter{Status: []execution.Status{execution.Failed}, Cursor: deep.Next}
		}},
	}
	for _, l := range lists {
		b.Run("list/"+l.name, func(b *testing.B) {
			var lat []time.Duration
			i := 0
			for b.Loop() {
				f := l.filter(i)
				f.Limit = 50
				i++
				start := time.Now()
				page, err := db.ListExecutions(ctx, f)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Items) == 0 {
					b.Fatalf("filter %+v matched nothing: the benchmark would measure an empty scan", f)
				}
			}
			reportLatency(b, lat)
		})
	}
	b.Run("get", func(b *testing.B) {
		var lat []time.Duration
		ids := make([]string, 256)
		for i := range ids {
			ids[i] = benchID(b, s.Pool, 1+i*3_907)
		}
		i := 0
		for b.Loop() {
			id := ids[i%len(ids)]
			i++
			start := time.Now()
			_, err := db.GetExecution(ctx, id)
			lat = append(lat, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		reportLatency(b, lat)
	})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50_ms")
	b.ReportMetric(at(0.99), "p99_ms")
}
