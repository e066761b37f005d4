package benchlog_test

import (
	"context"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/cmd/attune/internal/benchlog"
)

// TestCloneHoldsAVerifiedLogAndItsReadModels clones a small prefilled log twice (the second
// from the cached template) and checks the clone: every hash chain verifies, every execution
// is in the read model as completed, and the relay's checkpoint is at the head.
// (loadbench.TestLoad runs `attune audit verify` on one after a server ran on it.)
func TestCloneHoldsAVerifiedLogAndItsReadModels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const events = 602 // the worker's two events and 100 executions
	var clones []*benchlog.Log
	for range 2 {
		l, err := benchlog.Clone(ctx, pgtest.URL(), events, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := l.Drop(context.Background(), pgtest.URL()); err != nil {
				t.Error(err)
			}
		})
		clones = append(clones, l)
	}
	if clones[1].Built != 0 || clones[0].Database == clones[1].Database {
		t.Fatalf("the second clone rebuilt the template (%s) or reused the first clone (%s)", clones[1].Built, clones[1].Database)
	}
	l := clones[1]
	if l.Events != events {
		t.Fatalf("the template holds %d events, want %d", l.Events, events)
	}
	pool, err := postgres.ConnectWith(ctx, pgtest.WithPoolSize(l.URL, 2), benchlog.Schema, postgres.PoolOptions{AppName: pgtest.AppName})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eventstore.Verify(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != events || rep.Streams != 101 {
		t.Fatalf("verified %d events in %d streams, want %d in 101", rep.Events, rep.Streams, events)
	}
	var completed, all int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FROM executions`).Scan(&completed, &all); err != nil {
		t.Fatal(err)
	}
	if completed != 100 || all != 100 {
		t.Fatalf("executions read model: %d completed of %d, want 100 of 100", completed, all)
	}
	var major, minor uint64
	if err := pool.QueryRow(ctx, `SELECT position_major, position_minor FROM checkpoints WHERE name = $1`, relay.Name).Scan(&major, &minor); err != nil {
		t.Fatalf("the relay's checkpoint: %v", err)
	}
	if got := (eventstore.Position{Major: major, Minor: minor}); got != rep.Last {
		t.Fatalf("the relay's checkpoint is %s, the log's head %s", got, rep.Last)
	}
}
