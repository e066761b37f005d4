package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockPoll is how often a standby asks for a lock that another process holds. Failover then
// takes at most this long after the leader's session ends.
const lockPoll = 500 * time.Millisecond

const unlockSQL = `SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/' || $1, 0))`

// Locks holds every leadership of one process on ONE dedicated session, outside the pool.
// Lead, by contrast, takes a session per lock: `attune serve` leads the relay, the reaper and
// eight projections, and holds the in-process guard, which made a dozen sessions on top of
// its pool. Here a standby polls with pg_try_advisory_lock instead of blocking in
// pg_advisory_lock, so one session can wait for many locks; the session is pinged, and when
// it dies every leadership it held ends at once (their contexts are cancelled with
// ErrLeadershipLost) and the next attempt opens a new session.
type Locks struct {
	cfg  *pgx.ConnConfig
	poll time.Duration

	mu   sync.Mutex // serialises the session: a pgx.Conn serves one caller at a time
	conn *pgx.Conn
	held map[string]bool // advisory locks are re-entrant per session: a second taker in
	// this process must wait like any other standby, so the session's locks are counted here
	lost    chan struct{} // closed when conn's session is given up
	pid     uint32        // conn's backend process id
	stop    chan struct{} // ends conn's watcher
	watched sync.WaitGroup
}

// NewLocks returns the process's lock session, opened on first use with the pool's
// connection settings (its schema: lock keys are per schema, like Lead's).
func NewLocks(pool *pgxpool.Pool) *Locks {
	return &Locks{cfg: pool.Config().ConnConfig.Copy(), poll: lockPoll}
}

// Close ends the session, releasing every lock it holds.
func (l *Locks) Close() {
	l.mu.Lock()
	l.dropLocked()
	l.mu.Unlock()
	l.watched.Wait()
}

// Lead runs fn while this process holds the named lock, as postgres.Lead does: it waits for
// the lock (polling), runs fn with a context cancelled with cause ErrLeadershipLost when the
// session dies, and releases the lock when fn returns.
func (l *Locks) Lead(ctx context.Context, name string, fn func(context.Context) error) error {
	var lost <-chan struct{}
	for {
		ok, sessionLost, err := l.try(ctx, name)
		if err != nil {
			return fmt.Errorf("wait for leadership of %s: %w", name, err)
		}
		if ok {
			lost = sessionLost
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.poll):
		}
	}

	leadCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lost:
			cancel(ErrLeadershipLost)
		case <-leadCtx.Done():
		}
	}()
	err := fn(leadCtx)
	if errors.Is(context.Cause(leadCtx), ErrLeadershipLost) {
		return fmt.Errorf("lead %s: %w", name, errors.Join(ErrLeadershipLost, err))
	}
	l.release(ctx, name, lost)
	return err
}

// Hold takes the named lock at once or fails with ErrHeld, as postgres.Hold does; the lock
// lasts until release is called or the session ends.
func (l *Locks) Hold(ctx context.Context, name string) (release func(), err error) {
	ok, lost, err := l.try(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", name, ErrHeld)
	}
	return func() { l.release(context.Background(), name, lost) }, nil
}

// try asks for the lock once on the session, opening one if needed; it returns the channel
// that closes when that session is given up.
func (l *Locks) try(ctx context.Context, name string) (bool, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		if err := l.openLocked(ctx); err != nil {
			return false, nil, err
		}
	}
	// Not the caller's context: pgx closes a connection whose query is cancelled, and this
	// session holds the other leaders' locks too.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if l.held[name] {
		return false, nil, nil
	}
	var ok bool
	if err := l.conn.QueryRow(qctx, tryLockSQL, name).Scan(&ok); err != nil {
		l.dropLocked() // a broken session: every lock on it is gone
		return false, nil, err
	}
	l.held[name] = ok
	return ok, l.lost, nil
}

// release unlocks name if the session that took it still lives (a dead one released it).
func (l *Locks) release(ctx context.Context, name string, lost <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil || l.lost != lost {
		return
	}
	delete(l.held, name)
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(uctx, unlockSQL, name); err != nil {
		l.dropLocked() // ending the session is the sure way to drop its locks
	}
}

func (l *Locks) openLocked(ctx context.Context) error {
	cfg := l.cfg.Copy()
	cfg.RuntimeParams["application_name"] = appNameOf(cfg, "locks")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open lock session: %w", oneLine{err})
	}
	l.conn, l.lost, l.stop, l.held = conn, make(chan struct{}), make(chan struct{}), map[string]bool{}
	l.pid = conn.PgConn().PID()
	l.watched.Add(1)
	go l.watch(conn, l.stop)
	return nil
}

// dropLocked closes the session and tells every leader on it that it lost.
func (l *Locks) dropLocked() {
	if l.conn == nil {
		return
	}
	close(l.stop)
	close(l.lost)
	_ = l.conn.Close(context.Background())
	l.conn = nil
}

// watch pings the session so that its death is noticed within leaderPing even when no
// leader asks anything of it.
func (l *Locks) watch(conn *pgx.Conn, stop <-chan struct{}) {
	defer l.watched.Done()
	t := time.NewTicker(leaderPing)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		if l.conn != conn {
			l.mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), leaderPing)
		err := conn.Ping(ctx)
		cancel()
		if err != nil {
			l.dropLocked()
		}
		l.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// holderSQL finds the backend holding the advisory lock try takes for a name in the current
// schema (a bigint key shows in pg_locks as its high and low 32 bits).
const holderSQL = `
	WITH k AS (SELECT hashtextextended(current_schema() || '/' || $1, 0) AS key)
	SELECT l.pid FROM pg_locks l, k
	WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
	  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND l.classid::bigint = (k.key >> 32) & 4294967295
	  AND l.objid::bigint = k.key & 4294967295`

// holder returns the backend that holds name (0 when none does).
func (l *Locks) holder(ctx context.Context, name string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		if err := l.openLocked(ctx); err != nil {
			return 0, err
		}
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var pid int
	err := l.conn.QueryRow(qctx, holderSQL, name).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		l.dropLocked()
		return 0, err
	}
	return pid, nil
}
