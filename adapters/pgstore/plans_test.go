package pgstore

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// The log's hot queries must cost the same at any size of the log. pgx caches prepared
// statements, and after five runs PostgreSQL may switch a statement to a generic plan that
// ignores the parameters' values: a generic plan that scans `events` makes every call linear
// in the log's size (pendingAfter once did: 24.5 executions/s at 1 M events). Force the
// generic plan on a log of 100k events and refuse any sequential scan of `events`.
func TestHotQueriesNeverScanTheWholeLogUnderAGenericPlan(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at, hash)
SELECT gen_random_uuid(), 'execution-' || (g / 4), (g % 4) + 1, 'ExecutionStatusChanged', 1, '{}', '{}', now(), '\x00'
FROM generate_series(0, 99999) AS g`); err != nil {
		t.Fatalf("fill the log: %v", err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	queries := []struct {
		name, sql string
		args      string // the EXECUTE argument list
	}{
		{"read a stream", readStreamSQL, `('execution-7', 0)`},
		{"read the log after a cursor", readAllSQL, `('1'::xid8, 1, 500)`},
		{"look for events pending after a cursor", pendingAfterSQL, `('1'::xid8, 1)`},
		{"the head of the log", headSQL, ``},
		{"the head of a stream", selectHeadSQL, `('execution-7')`},
		{"the heads of a request's streams", selectHeadsSQL, `('{execution-7,execution-8,execution-9}'::text[])`},
		{"the first event after a reader's cursor (readiness)", firstAfterSQL, `('1'::xid8, 1)`},
	}
	for i, q := range queries {
		stmt := "hot" + string(rune('a'+i))
		if _, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+q.sql); err != nil {
			t.Fatalf("%s: prepare: %v", q.name, err)
		}
		var plan []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE "+stmt+q.args).Scan(&plan); err != nil {
			t.Fatalf("%s: explain: %v", q.name, err)
		}
		if scans := seqScansOf(t, plan, "events"); scans > 0 {
			t.Errorf("%s: the generic plan scans the whole of events:\n%s", q.name, indent(plan))
		}
	}
}

// seqScansOf counts the Seq Scan nodes on table in an EXPLAIN (FORMAT JSON) document.
func seqScansOf(t *testing.T, plan []byte, table string) int {
	t.Helper()
	var doc []struct{ Plan node }
	if err := json.Unmarshal(plan, &doc); err != nil {
		t.Fatalf("decode plan: %v", err)
	}
	n := 0
	var walk func(node)
	walk = func(p node) {
		if p.NodeType == "Seq Scan" && p.Relation == table {
			n++
		}
		for _, c := range p.Plans {
			walk(c)
		}
	}
	for _, d := range doc {
		walk(d.Plan)
	}
	return n
}

type node struct {
	NodeType string `json:"Node Type"`
	Relation string `json:"Relation Name"`
	Plans    []node `json:"Plans"`
}

func indent(b []byte) string {
	var v any
	_ = json.Unmarshal(b, &v)
	out, _ := json.MarshalIndent(v, "", "  ")
	return strings.TrimSpace(string(out))
}
