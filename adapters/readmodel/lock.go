package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/projections"
)

// Two session advisory locks per projection. Keys hash the schema with the name: advisory
// locks are database-wide, and each schema is its own Attune (tests, replays).
const (
	leadLock  = "lead"  // held by the one live runner for as long as it runs
	pauseLock = "pause" // held exclusively by a rebuild; every batch takes it shared
)

const (
	// The same key as postgres.Lead's, so Standbys counts the runners queued there.
	lockSQL        = `SELECT pg_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))`
	unlockSQL      = `SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/' || $1, 0))`
	pauseSharedSQL = `SELECT pg_advisory_xact_lock_shared(hashtextextended(current_schema() || '/' || $1, 0))`
)

func lockKey(kind, name string) string { return kind + ":" + name }

// Lead implements projections.Target with the shared leader election (postgres.Lead): a
// session advisory lock on a dedicated connection, watched so that fn's context ends when the
// session dies. Batches still go through the pool; the checkpoint compare-and-set in Update is
// what keeps a deposed leader's last batch from being applied twice.
func (d *DB) Lead(ctx context.Context, name string, fn func(context.Context, projections.Target) error) error {
	run := func(ctx context.Context) error { return fn(ctx, d) }
	if d.leader != nil {
		return d.leader.Lead(ctx, lockKey(leadLock, name), run)
	}
	return postgres.Lead(ctx, d.pool, lockKey(leadLock, name), run)
}

// Pause implements projections.Target: it takes the pause lock exclusively on a dedicated
// session, which waits for the batch in flight and holds back every later one until fn
// returns. fn gets a DB bound to that session, so its own batches (a rebuild's) take the
// shared lock where the exclusive one is held — advisory locks are re-entrant per session.
func (d *DB) Pause(ctx context.Context, name string, fn func(context.Context, projections.Target) error) error {
	return d.hold(ctx, pauseLock, name, fn)
}

func (d *DB) hold(ctx context.Context, kind, name string, fn func(context.Context, projections.Target) error) error {
	key := lockKey(kind, name)
	session := d.session
	if session == nil {
		c, err := d.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("acquire connection for %s lock: %w", key, err)
		}
		// Released last; a connection closed below is dropped by the pool, not reused.
		defer c.Release()
		session = c
	}
	if _, err := session.Exec(ctx, lockSQL, key); err != nil {
		return fmt.Errorf("wait for %s lock: %w", key, err)
	}
	// Deferred so that even a panic in fn cannot put a connection that still holds the lock
	// back into the pool.
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := session.Exec(uctx, unlockSQL, key); err != nil && d.session == nil {
			_ = session.Conn().Close(uctx) // ending the session is the sure way to drop its locks
		}
	}()
	return fn(ctx, &DB{pool: d.pool, q: session, session: session})
}

// waitersSQL counts the sessions waiting for one of our advisory locks. A bigint key shows
// in pg_locks split into classid (high half) and objid (low half), with objsubid 1.
const waitersSQL = `
WITH k AS (SELECT hashtextextended(current_schema() || '/' || $1, 0) AS key)
SELECT count(*) FROM pg_locks l, k
WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = ((k.key >> 32) & 4294967295)::oid
  AND l.objid = (k.key & 4294967295)::oid`

// Standbys counts the runners of the projection waiting to take over from the live one.
func (d *DB) Standbys(ctx context.Context, name string) (int, error) {
	return d.waiters(ctx, leadLock, name)
}

// HeldBack counts the batches of the projection waiting for a rebuild to finish.
func (d *DB) HeldBack(ctx context.Context, name string) (int, error) {
	return d.waiters(ctx, pauseLock, name)
}

func (d *DB) waiters(ctx context.Context, kind, name string) (int, error) {
	var n int
	if err := d.q.QueryRow(ctx, waitersSQL, lockKey(kind, name)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count waiters for %s lock: %w", lockKey(kind, name), err)
	}
	return n, nil
}
