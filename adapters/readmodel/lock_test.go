package readmodel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/executions"
)

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition in the database, not waiting for time to pass
	}
}

func TestLeadAdmitsOneRunnerAtATime(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()

	release := make(chan struct{})
	firstLeads := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- db.Lead(ctx, executions.Name, func(context.Context, projections.Target) error {
			close(firstLeads)
			<-release
			return nil
		})
	}()
	<-firstLeads

	secondLeads := make(chan struct{})
	secondDone := make(chan error, 1)
	go func() {
		secondDone <- db.Lead(ctx, executions.Name, func(context.Context, projections.Target) error {
			close(secondLeads)
			return nil
		})
	}()
	waitFor(t, "the second runner to queue for the lock", func() bool {
		n, err := db.Standbys(ctx, executions.Name)
		return err == nil && n == 1
	})
	select {
	case <-secondLeads:
		t.Fatal("a second runner led while the first held the lock")
	default:
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	<-secondLeads
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
}

func TestLocksAreScopedToTheSchema(t *testing.T) {
	t.Parallel()
	a, _ := setup(t)
	b := readmodel.New(pgtest.New(t).Pool)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Advisory locks are database-wide: if the keys ignored the schema, the inner Lead
	// would wait for the outer one forever (here: until the timeout).
	err := a.Lead(ctx, executions.Name, func(ctx context.Context, _ projections.Target) error {
		return b.Lead(ctx, executions.Name, func(context.Context, projections.Target) error { return nil })
	})
	if err != nil {
		t.Fatalf("lead the same projection in two schemas at once: %v", err)
	}
}

func TestPauseHoldsBatchesBackUntilItEnds(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	save(t, db, eventstore.Start, pos(10))

	batch := make(chan error, 1)
	err := db.Pause(ctx, executions.Name, func(ctx context.Context, t2 projections.Target) error {
		go func() {
			batch <- db.Update(ctx, executions.Name, pos(10), pos(11), func(projections.Tx) error { return nil })
		}()
		waitFor(t, "the batch to wait for the pause", func() bool {
			n, err := db.HeldBack(ctx, executions.Name)
			return err == nil && n == 1
		})
		// What a rebuild does meanwhile, on the pausing session: the batch's start is gone.
		if err := t2.Reset(ctx, executions.Name); err != nil {
			return err
		}
		return t2.Update(ctx, executions.Name, eventstore.Start, pos(30), func(projections.Tx) error { return nil })
	})
	if err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := <-batch; !errors.Is(err, projections.ErrCheckpointMoved) {
		t.Errorf("batch held back by a rebuild: err = %v, want ErrCheckpointMoved", err)
	}
	if cp, _ := db.Checkpoint(ctx, executions.Name); cp != pos(30) {
		t.Errorf("checkpoint = %v, want the rebuild's %v", cp, pos(30))
	}
}

func TestLeaderSessionLossEndsItsLeadership(t *testing.T) {
	t.Parallel()
	db, b := setup(t)
	ctx := context.Background()
	err := db.Lead(ctx, executions.Name, func(ctx context.Context, _ projections.Target) error {
		// The leader's session dies (a network cut, a restarted server): the lock goes with
		// it, so the runner must be told to stop.
		var killed int
		err := b.schema.Pool.QueryRow(ctx, `
			WITH k AS (SELECT hashtextextended($1 || '/lead:' || $2, 0) AS key),
			holder AS MATERIALIZED (
			    SELECT l.pid FROM pg_locks l, k
			    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			      AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid)
			SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM holder`, b.schema.Name, executions.Name).Scan(&killed)
		if err != nil || killed != 1 {
			t.Fatalf("terminate the leader's session: %v (%d sessions)", err, killed)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, postgres.ErrLeadershipLost) {
		t.Fatalf("lead through a lost session: err = %v, want ErrLeadershipLost", err)
	}
}
