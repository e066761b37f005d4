package postgres

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AnalyzerName is the leadership the Analyzer runs under: one per schema is enough.
const AnalyzerName = "analyze"

// Analyzer keeps the planner's statistics up with tables that grow from empty faster than
// autovacuum follows. Autovacuum visits a database once per autovacuum_naptime (a minute by
// default) and analyzes a table once a tenth of it changed; a fresh database fed at a few
// hundred executions a second holds tens of thousands of events before its first ANALYZE,
// and until then the plans (pgx caches prepared statements, whose generic plans PostgreSQL
// keeps) are made for empty tables: sequential scans of events, measured at 12,000 of them
// reading 100 M rows in the first 20 s of a load of 200/s (ARCHITECTURE.md, "A fresh
// database"). The Analyzer looks every Interval at the tables of the pool's schema and
// ANALYZEs each one that holds at least MinRows rows and twice the rows its statistics say
// it holds: every doubling of a young table, so a few ANALYZEs on the way to a million rows;
// a large table is left to autovacuum, whose thresholds come first, and a small table whose
// rows only change (checkpoints, heartbeats) is never analyzed here. An ANALYZE
// samples at most 30,000 rows (a few milliseconds) and invalidates the cached plans that
// read the table, so every session plans again with the new statistics.
type Analyzer struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Interval between looks; defaults to 2s.
	Interval time.Duration
	// MinRows is the fewest rows a table holds before the Analyzer looks at it; defaults to
	// 1,000 (below that a sequential scan is as good as any plan).
	MinRows int64
}

// Run analyzes until ctx ends, then returns nil. A failed look is logged and tried again at
// the next tick: statistics are an optimisation, never a reason to stop the server.
func (a *Analyzer) Run(ctx context.Context) error {
	log := cmp.Or(a.Log, slog.New(slog.DiscardHandler))
	t := time.NewTicker(cmp.Or(a.Interval, 2*time.Second))
	defer t.Stop()
	for {
		if _, err := a.Once(ctx); err != nil && ctx.Err() == nil {
			log.Warn("analyze growing tables", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Once analyzes every table of the schema that has at least doubled since its statistics
// were taken, and returns their names.
func (a *Analyzer) Once(ctx context.Context) ([]string, error) {
	rows, err := a.Pool.Query(ctx, `
		SELECT s.schemaname, s.relname
		FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
		WHERE s.schemaname = current_schema()
		  AND s.n_live_tup >= $1
		  AND s.n_live_tup >= 2 * greatest(c.reltuples, 0)
		ORDER BY s.relname`, cmp.Or(a.MinRows, 1000))
	if err != nil {
		return nil, fmt.Errorf("find tables to analyze: %w", err)
	}
	var tables []pgx.Identifier
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			return nil, fmt.Errorf("find tables to analyze: %w", err)
		}
		tables = append(tables, pgx.Identifier{schema, table})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find tables to analyze: %w", err)
	}
	var done []string
	for _, t := range tables {
		if _, err := a.Pool.Exec(ctx, "ANALYZE "+t.Sanitize()); err != nil {
			return done, fmt.Errorf("analyze %s: %w", t.Sanitize(), err)
		}
		done = append(done, t[1])
	}
	return done, nil
}
