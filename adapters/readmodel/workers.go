package readmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/projections/workers"
)

var workerColumns = workerCols("")

// workerCols is the column list scanWorker reads, each qualified with prefix (a join's alias).
func workerCols(p string) string {
	return strings.NewReplacer("$", p).Replace(`$worker_id, coalesce($name, ''), coalesce($host, ''), $runtimes,
    $max_concurrency, coalesce($version, ''), $status, coalesce($reason, ''), $lost, $registered_at,
    $deregistered_at, $updated_at, $stream_version, $position_major, $position_minor`)
}

// The runtimes of each row travel as one JSON array per row: unnest flattens an array of
// arrays, so text[][] cannot carry one list per row.
const saveWorkersSQL = `
INSERT INTO workers (worker_id, name, host, runtimes, max_concurrency, version, status, reason, lost,
    registered_at, deregistered_at, updated_at, stream_version, position_major, position_minor)
SELECT u.worker_id, NULLIF(u.name, ''), NULLIF(u.host, ''),
    ARRAY(SELECT jsonb_array_elements_text(u.runtimes::jsonb)), u.max_concurrency, NULLIF(u.version, ''),
    u.status, NULLIF(u.reason, ''), u.lost, u.registered_at, u.deregistered_at, u.updated_at,
    u.stream_version, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[], $8::text[],
    $9::bool[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::int8[], $14::int8[], $15::int8[])
    AS u(worker_id, name, host, runtimes, max_concurrency, version, status, reason, lost, registered_at,
    deregistered_at, updated_at, stream_version, position_major, position_minor)
ON CONFLICT (worker_id) DO UPDATE SET
    name = excluded.name, host = excluded.host, runtimes = excluded.runtimes,
    max_concurrency = excluded.max_concurrency, version = excluded.version, status = excluded.status,
    reason = excluded.reason, lost = excluded.lost, registered_at = excluded.registered_at,
    deregistered_at = excluded.deregistered_at, updated_at = excluded.updated_at,
    stream_version = excluded.stream_version, position_major = excluded.position_major,
    position_minor = excluded.position_minor`

func scanWorker(row pgx.Row, extra ...any) (workers.Worker, error) {
	var (
		w                  workers.Worker
		status             string
		maxConc            int32
		dereg              pgtype.Timestamptz
		posMajor, posMinor int64
	)
	dst := append([]any{&w.ID, &w.Name, &w.Host, &w.Runtimes, &maxConc, &w.Version, &status, &w.Reason, &w.Lost,
		&w.RegisteredAt, &dereg, &w.UpdatedAt, &w.StreamVersion, &posMajor, &posMinor}, extra...)
	if err := row.Scan(dst...); err != nil {
		return workers.Worker{}, err
	}
	if len(w.Runtimes) == 0 {
		w.Runtimes = nil
	}
	w.MaxConcurrency, w.Status = int(maxConc), workers.Status(status)
	w.RegisteredAt, w.DeregisteredAt, w.UpdatedAt = w.RegisteredAt.UTC(), dereg.Time.UTC(), w.UpdatedAt.UTC()
	w.Position = positionOf(posMajor, posMinor)
	return w, nil
}

// LoadWorkers implements workers.Store.
func (s *txStore) LoadWorkers(ctx context.Context, ids []string) (map[string]workers.Worker, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("%d workers", len(ids)),
		`SELECT `+workerColumns+` FROM workers WHERE worker_id = ANY($1)`, []any{ids},
		func(r pgx.Row) (workers.Worker, error) { return scanWorker(r) }, func(w workers.Worker) string { return w.ID })
}

// SaveWorkers implements workers.Store.
func (s *txStore) SaveWorkers(ctx context.Context, ws []workers.Worker) error {
	if len(ws) == 0 {
		return nil
	}
	runtimes := make([]string, len(ws))
	for i, w := range ws {
		b, err := json.Marshal(w.Runtimes)
		if err != nil {
			return fmt.Errorf("save worker %s: %w", w.ID, err)
		}
		if w.Runtimes == nil {
			b = []byte(`[]`)
		}
		runtimes[i] = string(b)
	}
	type w = workers.Worker
	_, err := s.tx.Exec(ctx, saveWorkersSQL,
		column(ws, func(w w) string { return w.ID }),
		column(ws, func(w w) string { return w.Name }),
		column(ws, func(w w) string { return w.Host }),
		runtimes,
		column(ws, func(w w) int32 { return int32(w.MaxConcurrency) }),
		column(ws, func(w w) string { return w.Version }),
		column(ws, func(w w) string { return string(w.Status) }),
		column(ws, func(w w) string { return w.Reason }),
		column(ws, func(w w) bool { return w.Lost }),
		column(ws, func(w w) pgtype.Timestamptz { return timestamp(w.RegisteredAt) }),
		column(ws, func(w w) pgtype.Timestamptz { return timestamp(w.DeregisteredAt) }),
		column(ws, func(w w) pgtype.Timestamptz { return timestamp(w.UpdatedAt) }),
		column(ws, func(w w) int64 { return w.StreamVersion }),
		column(ws, func(w w) int64 { return int64(w.Position.Major) }),
		column(ws, func(w w) int64 { return int64(w.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d workers: %w", len(ws), err)
	}
	return nil
}

// ListWorkers returns one page of workers in id order, each with its last heartbeat when
// the live table (migration 00004) has one.
func (d *DB) ListWorkers(ctx context.Context, f workers.Filter) (workers.Page, error) {
	if err := f.Validate(); err != nil {
		return workers.Page{}, fmt.Errorf("list workers: %w", err)
	}
	w := &where{}
	if f.Status != "" {
		w.add(`w.status = $%d`, string(f.Status))
	}
	if after, ok, _ := workers.ParseCursor(f.Cursor); ok {
		w.add(`w.worker_id > $%d`, after)
	}
	cols := workerCols("w.") + `, l.last_seen, l.running, l.pack_envs`
	items, next, err := listPage(ctx, d.q, "workers", cols,
		"workers w LEFT JOIN workers_live l ON l.worker_id = w.worker_id", w, "w.worker_id", f.PageSize(),
		func(r pgx.Row) (workers.Worker, error) {
			var (
				seen    pgtype.Timestamptz
				running pgtype.Int4
				envs    []byte
			)
			x, err := scanWorker(r, &seen, &running, &envs)
			if err == nil && seen.Valid {
				x.Heartbeat = &workers.Heartbeat{LastSeen: seen.Time.UTC(), Running: int(running.Int32)}
				var list []workers.PackEnv
				if len(envs) > 0 {
					if err := json.Unmarshal(envs, &list); err != nil {
						return x, fmt.Errorf("worker %s: pack_envs: %w", x.ID, err)
					}
				}
				if len(list) > 0 {
					x.Heartbeat.PackEnvs = list
				}
			}
			return x, err
		}, workers.Cursor)
	return workers.Page{Items: items, Next: next}, err
}
