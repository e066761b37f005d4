// Package heartbeat keeps the liveness of workers in Postgres (table workers_live, migration
// 00004_workers.sql). Heartbeats are not events (design §2): the log records a worker's
// lifecycle (WorkerRegistered/WorkerDeregistered); this table says who is alive right now
// and how loaded, so the scheduler can choose a worker and the reaper can notice one that
// went silent. Every timestamp is the database's clock, so workers and reapers on hosts
// with skewed clocks still agree on who is late.
package heartbeat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Worker is one worker's row: what it runs, how loaded it was at its last beat, and when
// that was.
type Worker struct {
	ID             string
	Name           string
	Host           string
	Runtimes       []string // canonical runner types (shell, python, node, builtin)
	MaxConcurrency int
	Running        int // executions accepted and not yet reported, at the last beat
	// Draining says the worker is stopping: alive (its runs still report) but taking nothing new.
	Draining bool
	// PackEnvs is the JSON array of the pack environments the worker has on its host
	// (adapters/runtime/packenv.Env); nil: none.
	PackEnvs json.RawMessage
	// Set by the database; ignored by Beat.
	LastSeen  time.Time
	StartedAt time.Time     // the first beat of this row
	Age       time.Duration // time since LastSeen, by the database's clock when read
}

// Store is the workers_live table of the pool's schema.
type Store struct {
	pool *pgxpool.Pool
}

// New returns the table of the pool's schema (its search_path).
func New(pool *pgxpool.Pool) *Store {
	if pool == nil {
		panic("heartbeat: nil pool") // wiring error
	}
	return &Store{pool: pool}
}

const (
	// beatSQL upserts the row; xmax is 0 only on a row this statement inserted, which tells
	// a worker that its row had gone (the reaper declared it lost) since its last beat.
	beatSQL = `
INSERT INTO workers_live (worker_id, name, host, runtimes, max_concurrency, running, draining, pack_envs, last_seen, started_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now())
ON CONFLICT (worker_id) DO UPDATE SET
    name = excluded.name, host = excluded.host, runtimes = excluded.runtimes,
    max_concurrency = excluded.max_concurrency, running = excluded.running,
    draining = excluded.draining, pack_envs = excluded.pack_envs, last_seen = now()
RETURNING xmax = 0`

	selectColumns = `worker_id, name, host, runtimes, max_concurrency, running, draining, last_seen, started_at,
    (extract(epoch FROM now() - last_seen) * 1000000)::bigint`

	// The TTL is bound in microseconds: one integer parameter, no interval encoding.
	liveSQL   = `SELECT ` + selectColumns + ` FROM workers_live WHERE last_seen > now() - $1 * interval '1 microsecond' ORDER BY worker_id`
	lostSQL   = `SELECT ` + selectColumns + ` FROM workers_live WHERE last_seen <= now() - $1 * interval '1 microsecond' ORDER BY last_seen, worker_id`
	removeSQL = `DELETE FROM workers_live WHERE worker_id = $1`
)

// Beat records that w is alive with w.Running executions in hand, creating its row if
// needed. created reports that the row did not exist: true on a worker's first beat, and on
// a later one only if the reaper removed the row meanwhile (it declared the worker lost).
func (s *Store) Beat(ctx context.Context, w Worker) (created bool, err error) {
	if w.ID == "" || w.MaxConcurrency < 1 || w.Running < 0 {
		return false, fmt.Errorf("heartbeat of worker %q: want an id, max concurrency >= 1 and running >= 0 (got %d, %d)",
			w.ID, w.MaxConcurrency, w.Running)
	}
	runtimes := w.Runtimes
	if runtimes == nil {
		runtimes = []string{}
	}
	envs := w.PackEnvs
	if len(envs) == 0 {
		envs = json.RawMessage(`[]`)
	}
	err = s.pool.QueryRow(ctx, beatSQL, w.ID, w.Name, w.Host, runtimes, w.MaxConcurrency, w.Running, w.Draining, string(envs)).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("heartbeat of worker %s: %w", w.ID, err)
	}
	return created, nil
}

// Live lists the workers whose last beat is younger than ttl, by id.
func (s *Store) Live(ctx context.Context, ttl time.Duration) ([]Worker, error) {
	ws, err := s.query(ctx, liveSQL, ttl)
	if err != nil {
		return nil, fmt.Errorf("list workers alive within %s: %w", ttl, err)
	}
	return ws, nil
}

// Lost lists the workers whose last beat is ttl old or older, longest silent first.
func (s *Store) Lost(ctx context.Context, ttl time.Duration) ([]Worker, error) {
	ws, err := s.query(ctx, lostSQL, ttl)
	if err != nil {
		return nil, fmt.Errorf("list workers silent for %s: %w", ttl, err)
	}
	return ws, nil
}

// Remove deletes a worker's row; removing a row that is not there is not an error.
func (s *Store) Remove(ctx context.Context, workerID string) error {
	if _, err := s.pool.Exec(ctx, removeSQL, workerID); err != nil {
		return fmt.Errorf("remove heartbeat of worker %s: %w", workerID, err)
	}
	return nil
}

func (s *Store) query(ctx context.Context, sql string, ttl time.Duration) ([]Worker, error) {
	if ttl <= 0 {
		return nil, errors.New("ttl must be positive")
	}
	rows, err := s.pool.Query(ctx, sql, ttl.Microseconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Worker, error) {
		var (
			w   Worker
			age int64
		)
		if err := row.Scan(&w.ID, &w.Name, &w.Host, &w.Runtimes, &w.MaxConcurrency, &w.Running, &w.Draining,
			&w.LastSeen, &w.StartedAt, &age); err != nil {
			return Worker{}, err
		}
		w.LastSeen, w.StartedAt = w.LastSeen.UTC(), w.StartedAt.UTC()
		w.Age = time.Duration(age) * time.Microsecond
		return w, nil
	})
}
