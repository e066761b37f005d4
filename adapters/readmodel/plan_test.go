package readmodel

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// genericPlan prepares query on a session of pool that forces generic plans (what pgx's
// statement cache may settle on), explains execute (an EXECUTE of the prepared name with
// arguments), and fails the test if the plan scans relation sequentially or does not use
// index. It returns the plan, as JSON.
func genericPlan(t *testing.T, ctx context.Context, pool *pgxpool.Pool, name, query, execute, relation, index string) []byte {
	t.Helper()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+query); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	var plan []byte
	if err := conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+execute).Scan(&plan); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var doc []struct{ Plan planNode }
	if err := json.Unmarshal(plan, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(planNode)
	walk = func(n planNode) {
		if n.NodeType == "Seq Scan" && n.Relation == relation {
			t.Errorf("the generic plan scans the whole of %s:\n%s", relation, plan)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	for _, d := range doc {
		walk(d.Plan)
	}
	if !strings.Contains(string(plan), index) {
		t.Errorf("the plan does not use %s:\n%s", index, plan)
	}
	return plan
}
