package readmodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/inquiries"
	"github.com/attune-go/attune/projections/keys"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/streams"
	"github.com/attune-go/attune/projections/workers"
	"github.com/attune-go/attune/projections/workflows"
)

// tables lists the tables each projection writes, each with its primary key, so that two
// dumps line up row by row. A projection added to resets needs its tables here too, or
// Compare refuses it.
var tables = map[string][]struct{ name, key string }{
	executions.Name:   {{"executions", "id"}},
	streams.Name:      {{"streams", "stream_id"}},
	catalog.Name:      {{"packs", "ref"}, {"pack_components", "kind, ref"}},
	events.Name:       {{"trigger_events", "id"}},
	enforcements.Name: {{"enforcements", "id"}},
	workers.Name:      {{"workers", "worker_id"}},
	causality.Name:    {{"causality", "event_id"}},
	workflows.Name:    {{"workflows", "id"}, {"workflow_tasks", "child_execution_id"}},
	policies.Name:     {{"policies", "ref"}, {"policy_members", "policy, execution_id, hold"}},
	inquiries.Name:    {{"inquiries", "id"}},
	keys.Name:         {{"kv_keys", "stream_id"}},
}

// Difference is the first row where two builds of a projection disagree. Got or Want is
// empty when one build lacks the row.
type Difference struct {
	Table string
	Row   int // 0-based, in key order
	Got   string
	Want  string
}

func (d *Difference) String() string {
	show := func(s string) string {
		if s == "" {
			return "(no row)"
		}
		return s
	}
	return fmt.Sprintf("table %s, row %d: got %s, want %s", d.Table, d.Row, show(d.Got), show(d.Want))
}

// Compare reads every table of the projection in got and in want side by side, in key
// order, each row rendered whole by Postgres (so every column takes part), and returns the
// first row that differs, or nil and the number of rows compared when they are equal. It
// streams both sides, so a table of millions of rows costs no memory. Writers of either side
// should be held back meanwhile (Pause), or the comparison sees a moving table.
func Compare(ctx context.Context, got, want *DB, projection string) (diff *Difference, rows int, err error) {
	ts, ok := tables[projection]
	if !ok {
		return nil, 0, fmt.Errorf("compare projection %q: no tables known for it", projection)
	}
	for _, t := range ts {
		d, n, err := compareTable(ctx, got, want, t.name, t.key)
		rows += n
		if err != nil || d != nil {
			return d, rows, err
		}
	}
	return nil, rows, nil
}

func compareTable(ctx context.Context, got, want *DB, table, key string) (*Difference, int, error) {
	var order []string
	for _, k := range strings.Split(key, ", ") {
		order = append(order, pgx.Identifier{k}.Sanitize())
	}
	sql := "SELECT r::text FROM " + pgx.Identifier{table}.Sanitize() + " r ORDER BY " + strings.Join(order, ", ")
	g, err := got.q.Query(ctx, sql)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", table, err)
	}
	defer g.Close()
	w, err := want.q.Query(ctx, sql)
	if err != nil {
		return nil, 0, fmt.Errorf("read rebuilt %s: %w", table, err)
	}
	defer w.Close()
	for i := 0; ; i++ {
		var gs, ws string
		gok, wok := g.Next(), w.Next()
		if gok {
			if err := g.Scan(&gs); err != nil {
				return nil, i, fmt.Errorf("read %s: %w", table, err)
			}
		}
		if wok {
			if err := w.Scan(&ws); err != nil {
				return nil, i, fmt.Errorf("read rebuilt %s: %w", table, err)
			}
		}
		if !gok && !wok {
			if err := g.Err(); err != nil {
				return nil, i, fmt.Errorf("read %s: %w", table, err)
			}
			if err := w.Err(); err != nil {
				return nil, i, fmt.Errorf("read rebuilt %s: %w", table, err)
			}
			return nil, i, nil
		}
		if gs != ws {
			// A failed read ends one side early; report it rather than a phantom difference.
			if err := g.Err(); err != nil {
				return nil, i, fmt.Errorf("read %s: %w", table, err)
			}
			if err := w.Err(); err != nil {
				return nil, i, fmt.Errorf("read rebuilt %s: %w", table, err)
			}
			return &Difference{Table: table, Row: i, Got: gs, Want: ws}, i, nil
		}
	}
}
