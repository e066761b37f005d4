// Package readmodel stores the read models of projections/ in Postgres: it implements
// projections.Target (checkpoints, the leadership and pause locks, one transaction per batch)
// and every projection's Store on that transaction, and serves the queries on the tables.
// The DDL is schemas/migrations/00002_projections.sql. The schema is the pool's search_path,
// so pointing a DB at another schema builds the read models there (point-in-time replay).
package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections"
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

var _ projections.Target = (*DB)(nil)

// querier is what both a pool and one of its connections offer: a DB bound to the session
// that holds the pause lock runs every statement on that session.
type querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is the read models of one schema.
type DB struct {
	pool *pgxpool.Pool
	q    querier
	// session is the connection a Pause holds its lock on; nil for the pool-wide DB.
	session *pgxpool.Conn
	// leader, when set, takes projection leadership on the process's shared lock session
	// (WithLeader); nil: a session of its own per projection (postgres.Lead).
	leader Leader
}

// Leader runs fn while this process holds the named lock (*postgres.Locks).
type Leader interface {
	Lead(ctx context.Context, name string, fn func(context.Context) error) error
}

// WithLeader returns the read models taking projection leadership through l, so that a
// server's projections share one lock session instead of holding one connection each.
func (d *DB) WithLeader(l Leader) *DB {
	cp := *d
	cp.leader = l
	return &cp
}

// New returns the read models of the pool's schema (its search_path).
func New(pool *pgxpool.Pool) *DB {
	if pool == nil {
		panic("readmodel: nil pool") // wiring error
	}
	return &DB{pool: pool, q: pool}
}

// oneShot makes a read planned for its own arguments each time (an unnamed statement, still
// one round trip). A cached generic plan is chosen once: made while a table was empty — after
// a reset — it scans the whole table for ever after, which made rebuilds 4x slower.
const oneShot = pgx.QueryExecModeCacheDescribe

// resets empties each projection's tables. A projection added here needs its tables listed
// too, or Rebuild refuses it.
var resets = map[string]string{
	executions.Name:   `TRUNCATE executions`,
	streams.Name:      `TRUNCATE streams`,
	catalog.Name:      `TRUNCATE packs, pack_components`,
	events.Name:       `TRUNCATE trigger_events`,
	enforcements.Name: `TRUNCATE enforcements`,
	workers.Name:      `TRUNCATE workers`,
	causality.Name:    `TRUNCATE causality`,
	workflows.Name:    `TRUNCATE workflows, workflow_tasks`,
	policies.Name:     `TRUNCATE policies, policy_members`,
	inquiries.Name:    `TRUNCATE inquiries`,
	keys.Name:         `TRUNCATE kv_keys`,
}

const (
	readCheckpointSQL = `SELECT position_major, position_minor FROM checkpoints WHERE name = $1`
	// The first batch of a projection creates its checkpoint; finding one already there
	// means another writer got in first.
	createCheckpointSQL = `INSERT INTO checkpoints (name, position_major, position_minor, updated_at)
VALUES ($1, $2, $3, now()) ON CONFLICT (name) DO NOTHING`
	// Later batches move it only from where the batch started: compare and set.
	moveCheckpointSQL = `UPDATE checkpoints SET position_major = $4, position_minor = $5, updated_at = now()
WHERE name = $1 AND position_major = $2 AND position_minor = $3`
	deleteCheckpointSQL = `DELETE FROM checkpoints WHERE name = $1`
)

// Checkpoint implements projections.Target.
func (d *DB) Checkpoint(ctx context.Context, name string) (eventstore.Position, error) {
	var major, minor int64
	err := d.q.QueryRow(ctx, readCheckpointSQL, name).Scan(&major, &minor)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Start, nil
	}
	if err != nil {
		return eventstore.Start, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	return eventstore.Position{Major: uint64(major), Minor: uint64(minor)}, nil
}

// Update implements projections.Target. The pause lock, taken shared for the transaction,
// and the checkpoint compare-and-set go in one round trip before fn writes any row. Its
// errors are classified (classify.go): the runner waits out an unavailable database and
// stalls on an event the tables refuse.
func (d *DB) Update(ctx context.Context, name string, from, to eventstore.Position, fn func(projections.Tx) error) error {
	return classify(d.update(ctx, name, from, to, fn))
}

func (d *DB) update(ctx context.Context, name string, from, to eventstore.Position, fn func(projections.Tx) error) error {
	tx, err := d.q.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin %s batch: %w", name, err)
	}
	// A no-op after Commit; a rollback that fails has lost the connection, and the server
	// rolls back with it.
	defer tx.Rollback(context.WithoutCancel(ctx))

	b := &pgx.Batch{}
	b.Queue(pauseSharedSQL, lockKey(pauseLock, name))
	if from == eventstore.Start {
		b.Queue(createCheckpointSQL, name, int64(to.Major), int64(to.Minor))
	} else {
		b.Queue(moveCheckpointSQL, name, int64(from.Major), int64(from.Minor), int64(to.Major), int64(to.Minor))
	}
	res := tx.SendBatch(ctx, b)
	_, err = res.Exec()
	if err != nil {
		res.Close()
		return fmt.Errorf("wait for rebuild of %s: %w", name, err)
	}
	tag, err := res.Exec()
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("move checkpoint %s from %s to %s: %w", name, from, to, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("move checkpoint %s from %s to %s: %w", name, from, to, projections.ErrCheckpointMoved)
	}
	if err := fn(&txStore{tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit %s batch up to %s: %w", name, to, err)
	}
	return nil
}

// Reset implements projections.Target.
func (d *DB) Reset(ctx context.Context, name string) error {
	truncate, ok := resets[name]
	if !ok {
		return fmt.Errorf("reset projection %q: no tables known for it", name)
	}
	err := pgx.BeginFunc(ctx, d.q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, truncate); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, deleteCheckpointSQL, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset projection %s: %w", name, err)
	}
	return nil
}

// txStore is every projection's Store on one transaction.
type txStore struct {
	tx pgx.Tx
}

var _ projections.Tx = (*txStore)(nil)
