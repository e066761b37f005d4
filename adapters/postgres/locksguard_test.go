package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// The guard on the process's lock session: held against another process, taken again when
// its session dies, and an error logged when another process got in first meanwhile.
func TestLocksGuardIsTakenAgainWhenItsSessionDies(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t).Pool
	ctx := context.Background()
	locks := postgres.NewLocks(pool)
	t.Cleanup(locks.Close)
	var logs syncBuf
	superseded := make(chan error, 2)
	release, err := locks.GuardAlone(ctx, "serve-inprocess", slog.New(slog.NewTextHandler(&logs, nil)), func(err error) { superseded <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	other := postgres.NewLocks(pool) // another process
	t.Cleanup(other.Close)
	if _, err := other.Hold(ctx, "serve-inprocess"); !errors.Is(err, postgres.ErrHeld) {
		t.Fatalf("another process's Hold = %v, want ErrHeld", err)
	}
	holder := func() (pid int) {
		err := pool.QueryRow(ctx, lockHolders, "serve-inprocess", true).Scan(&pid)
		if err != nil {
			return 0
		}
		return pid
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond) // polls the server
		}
	}
	terminate := func() int {
		pid := holder()
		if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); pid == 0 || err != nil {
			t.Fatalf("terminate the guard's session %d: %v", pid, err)
		}
		return pid
	}

	first := terminate()
	until("the guard to be taken again on a new session", func() bool { p := holder(); return p != 0 && p != first })
	until("the log to tell the loss and the retake", func() bool {
		return strings.Contains(logs.String(), "guard lost") && strings.Contains(logs.String(), "taken again")
	})
	select {
	case err := <-superseded:
		t.Fatalf("a retake with no other process reported %v", err)
	default:
	}

	// Another process gets in while the guard's session is gone: it was already waiting for
	// the lock, so it has it the moment the session ends, long before the guard's next ping.
	// The guard says so, and takes the lock back once it is free.
	waiter, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Release()
	got := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))`, "serve-inprocess")
		got <- err
	}()
	until("the other process to wait for the lock", func() bool {
		var pid int
		return pool.QueryRow(ctx, lockHolders, "serve-inprocess", false).Scan(&pid) == nil
	})
	second := terminate()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	until("the guard to name the other process", func() bool {
		return strings.Contains(logs.String(), "another process took the single-process guard")
	})
	// The process is told, once, so that it stops: the other one holds the lock.
	if err := <-superseded; !errors.Is(err, postgres.ErrSuperseded) {
		t.Fatalf("superseded with %v, want ErrSuperseded", err)
	}
	if _, err := waiter.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/' || $1, 0))`, "serve-inprocess"); err != nil {
		t.Fatal(err)
	}
	until("the guard to hold the lock again", func() bool { p := holder(); return p != 0 && p != second && p != first })
	if _, err := other.Hold(ctx, "serve-inprocess"); !errors.Is(err, postgres.ErrHeld) {
		t.Errorf("after the retake another process's Hold = %v, want ErrHeld", err)
	}
}
