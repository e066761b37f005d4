package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrLeadershipLost is the cause of the context Lead gives fn when the connection that holds
// the lock dies: the server has released the lock and another instance may lead already.
var ErrLeadershipLost = errors.New("leadership lost")

// leaderPing is how often the lock's connection is checked while fn runs. Losing it is
// noticed within this time; another instance may take the lock as soon as it is lost.
const leaderPing = 2 * time.Second

// lockSQL takes a session advisory lock keyed by the schema and the name: advisory locks are
// per database, and deployments (and tests) in other schemas must not contend.
const lockSQL = `SELECT pg_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))`

// tryLockSQL is lockSQL that answers at once whether it got the lock.
const tryLockSQL = `SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))`

// Lead runs fn while this process is the only one leading name in the pool's schema: it waits
// for a session advisory lock on a dedicated connection, runs fn, and releases the lock when
// fn returns. The relay and each projector use it so that one instance runs at a time and the
// others stand by. If the lock's connection dies, fn's context is cancelled with cause
// ErrLeadershipLost and Lead returns an error matching it. If ctx ends while waiting, Lead
// returns ctx's error without running fn.
func Lead(ctx context.Context, pool *pgxpool.Pool, name string, fn func(context.Context) error) error {
	conn, err := takeLock(ctx, pool, name)
	if err != nil {
		return err
	}
	// Closing the session releases the lock, even if an explicit unlock could not be sent.
	defer conn.Close(context.WithoutCancel(ctx))

	leadCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watch(leadCtx, conn, cancel)
	}()

	err = fn(leadCtx)
	lost := errors.Is(context.Cause(leadCtx), ErrLeadershipLost)
	cancel(nil)
	<-watched
	if lost {
		return fmt.Errorf("lead %s: %w", name, errors.Join(ErrLeadershipLost, err))
	}
	return err
}

// takeLock returns a connection, taken out of the pool, whose session holds the lock.
func takeLock(ctx context.Context, pool *pgxpool.Pool, name string) (*pgx.Conn, error) {
	conn, err := lockSession(ctx, pool, "lead:"+name)
	if err != nil {
		return nil, fmt.Errorf("wait for leadership of %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, lockSQL, name); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("wait for leadership of %s: %w", name, err)
	}
	return conn, nil
}

// lockSession takes a connection out of the pool for good, to hold a session lock: the
// session outlives the call, and the connection frees its place in the pool, so a lock
// session never starves the pool's other users. It is named label in pg_stat_activity, so
// operators see which session holds which lock.
func lockSession(ctx context.Context, pool *pgxpool.Pool, label string) (*pgx.Conn, error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", appName(conn, label)); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("name the lock session: %w", err)
	}
	return conn, nil
}

func watch(ctx context.Context, conn *pgx.Conn, lost context.CancelCauseFunc) {
	t := time.NewTicker(leaderPing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, leaderPing)
		err := conn.Ping(pingCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			lost(ErrLeadershipLost)
			return
		}
	}
}

// ErrHeld is returned by Hold when another session holds the lock.
var ErrHeld = errors.New("held by another process")

// Hold takes the named lock for as long as the returned release is not called, or fails at
// once with ErrHeld: for a role that must be alone and should say so rather than wait. The
// lock dies with its session; Guard also takes it again after a database restart.
func Hold(ctx context.Context, pool *pgxpool.Pool, name string) (release func(), err error) {
	conn, err := tryLock(ctx, pool, name)
	if err != nil {
		return nil, err
	}
	return func() { _ = conn.Close(context.WithoutCancel(ctx)) }, nil
}

// appName names a lock session after its pool's application name and its lock, within
// PostgreSQL's 63 bytes.
func appName(conn *pgx.Conn, what string) string { return appNameOf(conn.Config(), what) }

func appNameOf(cfg *pgx.ConnConfig, what string) string {
	name := cmp.Or(cfg.RuntimeParams["application_name"], "attune") + " " + what
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}
