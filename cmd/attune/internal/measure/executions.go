package measure

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/postgres"
)

// Connect opens a pool like postgres.ConnectWith, with tracer (nil: none) on every
// connection made from it, including the sessions a server derives from the pool's config.
func Connect(ctx context.Context, databaseURL, schema, appName string, maxConns int, tracer *Tracer) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	cfg.MaxConns = int32(cmp.Or(maxConns, postgres.DefaultMaxConns))
	if tracer != nil {
		cfg.ConnConfig.Tracer = tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

// Execution is one execution as the executions read model holds it: requested (created_at,
// the ExecutionRequested event's time) and finished (the terminal event's time).
type Execution struct {
	ID        string
	Status    string
	Reason    string
	Requested time.Time
	Finished  *time.Time
}

// Latency is requested → finished, or false while it is not finished.
func (x Execution) Latency() (time.Duration, bool) {
	if x.Finished == nil {
		return 0, false
	}
	return x.Finished.Sub(x.Requested), true
}

// CountFinished counts the executions among ids that have finished.
func CountFinished(ctx context.Context, pool *pgxpool.Pool, ids []string) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM executions WHERE id = ANY($1) AND finished_at IS NOT NULL`, ids).Scan(&n)
	return n, err
}

// WaitFinished polls until every execution of ids has finished or the deadline passes, and
// returns how many had.
func WaitFinished(ctx context.Context, pool *pgxpool.Pool, ids []string, deadline time.Time) (int, error) {
	for {
		n, err := CountFinished(ctx, pool, ids)
		if err != nil || n >= len(ids) || time.Now().After(deadline) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Executions reads the executions of ids from the read model of pool's schema.
func Executions(ctx context.Context, pool *pgxpool.Pool, ids []string) ([]Execution, error) {
	rows, err := pool.Query(ctx, `SELECT id, status, coalesce(reason, ''), created_at, finished_at FROM executions WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read executions: %w", err)
	}
	defer rows.Close()
	var out []Execution
	for rows.Next() {
		var x Execution
		if err := rows.Scan(&x.ID, &x.Status, &x.Reason, &x.Requested, &x.Finished); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Percentile returns the p-th percentile (0..1) of sorted durations, nearest rank.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

// Latencies returns the sorted latencies of the finished executions.
func Latencies(xs []Execution) []time.Duration {
	out := make([]time.Duration, 0, len(xs))
	for _, x := range xs {
		if d, ok := x.Latency(); ok {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// Ms renders a duration in milliseconds, for ReportMetric and reports.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
