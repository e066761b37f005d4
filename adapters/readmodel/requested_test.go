package readmodel

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/projections/executions"
)

// fillExecutions writes 100k executions of 10 actions, every 1,000th still requested, and
// the executions projection's checkpoint.
func fillExecutions(t *testing.T, ctx context.Context, s *pgtest.Schema) {
	t.Helper()
	if _, err := s.Pool.Exec(ctx, `INSERT INTO executions (id, action, status, parameters, created_at, updated_at, version, position_major, position_minor)
SELECT lpad(g::text, 26, '0'), 'p.a' || (g % 10),
       CASE WHEN g % 1000 = 0 THEN 'requested' ELSE 'completed' END,
       jsonb_build_object('n', g), now(), now(), 1, 1, g
FROM generate_series(1, 100000) AS g`); err != nil {
		t.Fatalf("fill executions: %v", err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO checkpoints (name, position_major, position_minor, updated_at) VALUES ($1, 7, 9, now())`,
		executions.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `ANALYZE executions`); err != nil {
		t.Fatal(err)
	}
}

func TestRequestedBeforeListsOnlyAnActionsRequestedOnesEarlierInRequestOrder(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	db := New(s.Pool)
	// Before anything is projected: no rows, and the read model at the start of the log.
	list, at, err := db.RequestedBefore(ctx, "p.a0", "Z", 10)
	if err != nil || len(list) != 0 || at != eventstore.Start {
		t.Fatalf("empty read model: %v at %s, %v", list, at, err)
	}
	fillExecutions(t, ctx, s)
	list, at, err = db.RequestedBefore(ctx, "p.a0", strings.Repeat("0", 21)+"05000", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list {
		ids = append(ids, strings.TrimLeft(r.ID, "0"))
		var p struct{ N int }
		if err := json.Unmarshal(r.Parameters, &p); err != nil || strings.TrimLeft(r.ID, "0") != jsonInt(p.N) {
			t.Errorf("%s: parameters %s", r.ID, r.Parameters)
		}
	}
	if want := []string{"1000", "2000", "3000", "4000"}; !slices.Equal(ids, want) {
		t.Errorf("requested before 5000: %v, want %v", ids, want)
	}
	if at != (eventstore.Position{Major: 7, Minor: 9}) {
		t.Errorf("as of %s, want the checkpoint 7-9", at)
	}
	if list, _, _ := db.RequestedBefore(ctx, "p.a1", "Z", 10); len(list) != 0 {
		t.Errorf("p.a1 has none requested (ids ending 000 are p.a0's): %v", list)
	}
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Admission looks up earlier requests before every admission of an action under a policy:
// under a generic plan (what pgx's statement cache may settle on) it must still use the
// partial index of requested executions, never scan the table.
func TestRequestedBeforeNeverScansExecutionsUnderAGenericPlan(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	fillExecutions(t, ctx, s)
	genericPlan(t, ctx, s.Pool, "requested", requestedBeforeSQL,
		`EXECUTE requested('`+executions.Name+`', 'p.a3', 'Z', 1000)`, "executions", "executions_requested")
}

type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Plans    []planNode `json:"Plans"`
}
