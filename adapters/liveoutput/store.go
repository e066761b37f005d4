// Package liveoutput keeps the output of running actions while they run: the worker writes
// it in batched chunks (Writer, a runtime.OutputSink) to the execution_output table, and the
// API reads them back in order (Store.Read) to stream them to clients, from any process.
//
// It is a bounded buffer, not a record: the log's ExecutionStatusChanged keeps the final,
// capped output. Each stream of an execution is capped (the same cap as the final output),
// and a sweep deletes an execution's chunks TTL after its run ended, and any chunk older
// than MaxAge whatever happened to its worker.
package liveoutput

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of the sweep.
const (
	// DefaultTTL is how long the chunks of a finished run stay readable: long enough for a
	// client to finish reading, or to reconnect and resume.
	DefaultTTL = 5 * time.Minute
	// DefaultMaxAge deletes chunks whose run never recorded its end (its worker died).
	DefaultMaxAge = 24 * time.Hour
)

// Chunk is one piece of an execution's output.
type Chunk struct {
	Seq    int64 // 1, 2, … within the execution, in the order written
	Stream string
	Data   string
	At     time.Time
}

// Store is the execution_output table (schemas/migrations/00019_output.sql).
type Store struct {
	pool *pgxpool.Pool
}

// New returns the store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Read returns up to limit chunks of the execution after seq, in order.
func (s *Store) Read(ctx context.Context, executionID string, after int64, limit int) ([]Chunk, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, stream, data, at FROM execution_output
WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, executionID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read output of %s: %w", executionID, err)
	}
	defer rows.Close()
	var out []Chunk
	for rows.Next() {
		var c Chunk
		if err := rows.Scan(&c.Seq, &c.Stream, &c.Data, &c.At); err != nil {
			return nil, fmt.Errorf("read output of %s: %w", executionID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read output of %s: %w", executionID, err)
	}
	return out, nil
}

// append inserts chunks in one statement.
func (s *Store) append(ctx context.Context, executionID string, chunks []Chunk) error {
	seqs := make([]int64, len(chunks))
	streams := make([]string, len(chunks))
	data := make([]string, len(chunks))
	ats := make([]time.Time, len(chunks))
	for i, c := range chunks {
		seqs[i], streams[i], data[i], ats[i] = c.Seq, c.Stream, c.Data, c.At
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO execution_output (execution_id, seq, stream, data, at)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT (execution_id, seq) DO NOTHING`, executionID, seqs, streams, data, ats)
	if err != nil {
		return fmt.Errorf("write output of %s: %w", executionID, err)
	}
	return nil
}

// lastSeq is the last seq written for the execution (0: none), where a second run of it (a
// placement after its first worker died) continues.
func (s *Store) lastSeq(ctx context.Context, executionID string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM execution_output WHERE execution_id = $1`, executionID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read output of %s: %w", executionID, err)
	}
	return seq, nil
}

// ended records that the execution's run has written all its output.
func (s *Store) ended(ctx context.Context, executionID string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO execution_output_ends (execution_id) VALUES ($1)
ON CONFLICT (execution_id) DO UPDATE SET ended_at = now()`, executionID)
	if err != nil {
		return fmt.Errorf("record the end of the output of %s: %w", executionID, err)
	}
	return nil
}

// Sweep deletes the chunks of runs that ended more than ttl ago, and every chunk older than
// maxAge (a run whose worker died never records its end), and returns how many chunks.
func (s *Store) Sweep(ctx context.Context, ttl, maxAge time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `WITH gone AS (
    DELETE FROM execution_output_ends WHERE ended_at < now() - make_interval(secs => $1) RETURNING execution_id)
DELETE FROM execution_output o USING gone WHERE o.execution_id = gone.execution_id`, ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("sweep output: %w", err)
	}
	old, err := s.pool.Exec(ctx, `DELETE FROM execution_output WHERE at < now() - make_interval(secs => $1)`, maxAge.Seconds())
	if err != nil {
		return tag.RowsAffected(), fmt.Errorf("sweep output: %w", err)
	}
	return tag.RowsAffected() + old.RowsAffected(), nil
}

// SweepEvery sweeps at every interval until ctx ends; report hears each sweep's outcome.
func (s *Store) SweepEvery(ctx context.Context, interval, ttl, maxAge time.Duration, report func(deleted int64, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		report(s.Sweep(ctx, ttl, maxAge))
	}
}
