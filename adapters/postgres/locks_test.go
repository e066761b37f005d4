package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// leadWith runs l.Lead in the background, like startLeader does for postgres.Lead.
func leadWith(t *testing.T, l *postgres.Locks, name string) *leader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ld := &leader{
		cancel: cancel, name: name, leading: make(chan struct{}), fnCtx: make(chan error, 1),
		result: make(chan error, 1), release: make(chan struct{}),
	}
	go func() {
		ld.result <- l.Lead(ctx, name, func(ctx context.Context) error {
			close(ld.leading)
			select {
			case <-ctx.Done():
				ld.fnCtx <- context.Cause(ctx)
			case <-ld.release:
			}
			return nil
		})
	}()
	t.Cleanup(cancel)
	return ld
}

func TestLocksHoldEveryLeadershipOfAProcessOnOneSession(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool
	locks := postgres.NewLocks(pool)
	t.Cleanup(locks.Close)
	names := []string{"relay", "reaper", "lead:projection:executions", "lead:projection:events"}
	for _, n := range names {
		wait(t, leadWith(t, locks, n).leading, n+" to lead")
	}
	release, err := locks.Hold(context.Background(), "serve-inprocess")
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	pids := map[int]bool{}
	for _, n := range append(names, "serve-inprocess") {
		var pid int
		if err := pool.QueryRow(context.Background(), lockHolders, n, true).Scan(&pid); err != nil {
			t.Fatalf("holder of %s: %v", n, err)
		}
		pids[pid] = true
	}
	if len(pids) != 1 {
		t.Errorf("%d sessions hold the process's 5 locks, want 1", len(pids))
	}

	other := postgres.NewLocks(pool) // another process
	t.Cleanup(other.Close)
	if _, err := other.Hold(context.Background(), "serve-inprocess"); !errors.Is(err, postgres.ErrHeld) {
		t.Errorf("Hold of a lock another process holds = %v, want ErrHeld", err)
	}
}

func TestLocksHandOverToAnotherProcessAndNeverLeadTwiceInOne(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool
	a, b := postgres.NewLocks(pool), postgres.NewLocks(pool)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)

	// Within one process: the session's lock is re-entrant, Locks must not be.
	var running, most atomic.Int32
	done := make(chan error, 2)
	block := make(chan struct{})
	for range 2 {
		go func() {
			done <- a.Lead(context.Background(), "relay", func(context.Context) error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-block
				running.Add(-1)
				return nil
			})
		}()
	}
	close(block)
	for range 2 {
		if err := wait(t, done, "both leaderships of one process to end"); err != nil {
			t.Fatal(err)
		}
	}
	if most.Load() != 1 {
		t.Errorf("%d leaderships of one name ran at once in one process, want 1", most.Load())
	}
	// Leadership ended with fn: the lock is free for another process.
	wait(t, leadWith(t, b, "relay").leading, "the other process to take over")
}

func TestLocksEndEveryLeadershipWhenTheSessionDies(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool
	a, b := postgres.NewLocks(pool), postgres.NewLocks(pool)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	relay, reaper := leadWith(t, a, "relay"), leadWith(t, a, "reaper")
	wait(t, relay.leading, "relay to lead")
	wait(t, reaper.leading, "reaper to lead")
	standby := leadWith(t, b, "relay")

	var killed int
	if err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM (`+lockHolders+`) h`, "relay", true).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d lock sessions (%v), want 1", killed, err)
	}
	for _, l := range []*leader{relay, reaper} {
		if cause := wait(t, l.fnCtx, l.name+"'s work to be cancelled"); !errors.Is(cause, postgres.ErrLeadershipLost) {
			t.Errorf("%s cancelled with %v, want ErrLeadershipLost", l.name, cause)
		}
		if err := wait(t, l.result, l.name+"'s Lead to return"); !errors.Is(err, postgres.ErrLeadershipLost) {
			t.Errorf("%s: Lead = %v, want ErrLeadershipLost", l.name, err)
		}
	}
	wait(t, standby.leading, "the standby to take over")
	// The process that lost its session leads again on a new one.
	wait(t, leadWith(t, a, "reaper").leading, "a new leadership on a fresh session")
}
