package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// leader runs postgres.Lead in the background and reports what happens to it.
type leader struct {
	cancel  context.CancelFunc
	name    string
	leading chan struct{} // closed when fn starts
	fnCtx   chan error    // fn's context cause, once it ends
	result  chan error    // what Lead returned
	release chan struct{} // closing it makes fn return nil
}

func startLeader(t *testing.T, pool *pgxpool.Pool, name string) *leader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &leader{
		cancel: cancel, name: name, leading: make(chan struct{}), fnCtx: make(chan error, 1),
		result: make(chan error, 1), release: make(chan struct{}),
	}
	go func() {
		l.result <- postgres.Lead(ctx, pool, name, func(ctx context.Context) error {
			close(l.leading)
			select {
			case <-ctx.Done():
				l.fnCtx <- context.Cause(ctx)
			case <-l.release:
			}
			return nil
		})
	}()
	t.Cleanup(cancel)
	return l
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// lockHolders selects the sessions holding (granted) or waiting for (not granted) the lock
// Lead takes for a name in the current schema: a bigint advisory key shows in pg_locks as
// its high and low 32 bits.
const lockHolders = `
	WITH k AS (SELECT hashtextextended(current_schema() || '/' || $1, 0) AS key)
	SELECT l.pid FROM pg_locks l, k
	WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted = $2
	  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND l.classid::bigint = (k.key >> 32) & 4294967295
	  AND l.objid::bigint = k.key & 4294967295`

// waitForWaiter polls until n sessions wait for the lock of name: the observable proof that
// a second Lead is blocked, without sleeping on our own goroutines.
func waitForWaiter(t *testing.T, pool *pgxpool.Pool, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var waiting int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM (`+lockHolders+`) w`, name, false).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session waits for the lock after 15s (%d waiting)", waiting)
		}
		time.Sleep(10 * time.Millisecond) // polling the server, not waiting for our own goroutine
	}
}

func TestLeadIsExclusiveAndHandsOver(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool

	a := startLeader(t, pool, "relay")
	wait(t, a.leading, "the first instance to lead")

	b := startLeader(t, pool, "relay")
	waitForWaiter(t, pool, "relay", 1)
	select {
	case <-b.leading:
		t.Fatal("second instance leads while the first still does")
	default:
	}

	// The leader stops (its process is cancelled): the standby takes over.
	a.cancel()
	if err := wait(t, a.result, "the first Lead to return"); err != nil {
		t.Fatalf("Lead after fn returned nil = %v, want nil", err)
	}
	wait(t, b.leading, "the standby to lead")
	close(b.release)
	if err := wait(t, b.result, "the second Lead to return"); err != nil {
		t.Fatalf("Lead = %v, want nil", err)
	}
}

func TestLeadNamesAndSchemasAreIndependent(t *testing.T) {
	t.Parallel()
	one, other := pgtest.New(t).Pool, pgtest.New(t).Pool

	leaders := []*leader{
		startLeader(t, one, "relay"),
		startLeader(t, one, "projection.executions"),
		startLeader(t, other, "relay"), // same name, another schema
	}
	for _, l := range leaders {
		wait(t, l.leading, "leader "+l.name)
	}
}

func TestLeadCancelsWorkWhenTheLockIsLost(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool
	a := startLeader(t, pool, "relay")
	wait(t, a.leading, "the first instance to lead")
	b := startLeader(t, pool, "relay")
	waitForWaiter(t, pool, "relay", 1)

	// Kill the session that holds the lock, as a network partition or a DBA would.
	var killed int
	err := pool.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM (`+lockHolders+`) h`, "relay", true).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d lock holders, want 1", killed)
	}

	if cause := wait(t, a.fnCtx, "the old leader's work to be cancelled"); !errors.Is(cause, postgres.ErrLeadershipLost) {
		t.Fatalf("work cancelled with cause %v, want ErrLeadershipLost", cause)
	}
	if err := wait(t, a.result, "the old Lead to return"); !errors.Is(err, postgres.ErrLeadershipLost) {
		t.Fatalf("Lead = %v, want ErrLeadershipLost", err)
	}
	wait(t, b.leading, "the standby to lead")
}

func TestLeadGivesUpWaitingWhenCancelled(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool
	a := startLeader(t, pool, "relay")
	wait(t, a.leading, "the first instance to lead")
	b := startLeader(t, pool, "relay")
	waitForWaiter(t, pool, "relay", 1)

	b.cancel()
	if err := wait(t, b.result, "the waiting Lead to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lead cancelled while waiting = %v, want context.Canceled", err)
	}
	select {
	case <-b.leading:
		t.Fatal("fn ran although Lead never got the lock")
	default:
	}
}
