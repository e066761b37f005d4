package projections_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/readmodel/readmodeltest"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/internal/lifecycle"
)

// group starts a Group of every projection on store and target; stop cancels it and waits
// until Run has returned.
func group(t *testing.T, store eventstore.Store, target projections.Target, maxBatch int, stallRetry time.Duration) (g *projections.Group, stop func()) {
	t.Helper()
	g, err := projections.NewGroup(projections.GroupConfig{
		Projections: projections.All(), Store: store, Target: target, MaxBatch: maxBatch,
		Logger: slog.New(slog.DiscardHandler), RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond,
		EventAttempts: 2, StallRetry: stallRetry,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run the group: %v", err)
		}
	}
	t.Cleanup(stop)
	return g, stop
}

// groupCaughtUp waits until every member of g has applied the log up to its head.
func groupCaughtUp(t *testing.T, g *projections.Group, s eventstore.Store) {
	t.Helper()
	for _, r := range g.Runners() {
		caughtUp(t, r, s)
	}
}

// One reader, one transaction per batch: every transaction the group commits moves all ten
// checkpoints to the same position with one statement, together with the rows; no other
// transaction touches a checkpoint; and the read models equal a build from scratch.
func TestGroupAdvancesEveryReadModelInOneTransactionPerBatch(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	store := memstore.New(memstore.Config{})
	if _, err := lifecycle.Write(context.Background(), store, lifecycle.Config{Executions: 40, Seed: 21}); err != nil {
		t.Fatal(err)
	}
	pool, trace := readmodeltest.TracedPool(t, s.Name, 2)
	g, stop := group(t, store, readmodel.New(pool), 25, time.Hour)
	groupCaughtUp(t, g, store)
	stop()

	var positions []string
	for i, tx := range trace.Committed() {
		var moves []readmodeltest.Statement
		for _, st := range tx.Statements {
			if strings.Contains(st.SQL, "checkpoints") {
				moves = append(moves, st)
			}
		}
		if len(moves) == 0 {
			continue
		}
		if len(moves) != 1 {
			t.Fatalf("transaction %d moved checkpoints in %d statements, want 1", i, len(moves))
		}
		names, _ := moves[0].Args[0].([]string)
		if len(names) != len(projections.All()) {
			t.Errorf("transaction %d moved the checkpoints of %v, want all %d projections", i, names, len(projections.All()))
		}
		to := moves[0].Args[4].([]int64) // to_major
		toMinor := moves[0].Args[5].([]int64)
		for j := range to {
			if to[j] != to[0] || toMinor[j] != toMinor[0] {
				t.Errorf("transaction %d moved the checkpoints to different positions", i)
			}
		}
		positions = append(positions, eventstore.Position{Major: uint64(to[0]), Minor: uint64(toMinor[0])}.String())
		if len(tx.Statements) < 2 {
			t.Errorf("transaction %d moved checkpoints without writing a row", i)
		}
	}
	events := 0
	for cursor := eventstore.Start; ; {
		batch, err := store.ReadAll(context.Background(), cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		events += len(batch)
		cursor = batch[len(batch)-1].Position
	}
	if want := (events + 24) / 25; len(positions) != want {
		t.Errorf("%d transactions for %d events in batches of 25, want %d", len(positions), events, want)
	}
	seen := map[string]bool{}
	for _, p := range positions {
		if seen[p] {
			t.Errorf("two transactions moved the checkpoints to %s", p)
		}
		seen[p] = true
	}
	sameRows(t, s, fresh(t, store), projections.All()...)
}

// TestGroupIsExactlyOnceAcrossCrashes kills the group again and again while the log grows —
// each kill cancels whatever it is doing, often a batch transaction half written — and
// restarts it. The tables must end exactly as one uninterrupted build makes them.
func TestGroupIsExactlyOnceAcrossCrashes(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, st.open)
			ctx := context.Background()
			written := make(chan lifecycle.Written, 1)
			go func() {
				w, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 150, Seed: 22})
				if err != nil {
					t.Error(err)
				}
				written <- w
			}()
			for crash, writing := 0, true; writing || crash < 6; crash++ {
				start, err := b.db.Checkpoint(ctx, projections.Executions.Name)
				if err != nil {
					t.Fatal(err)
				}
				g, stop := group(t, b.store, b.db, 7, time.Hour)
				exec := g.Runners()[0]
				eventually(t, "the group to apply a batch after restart", func() bool {
					return start.Less(exec.Applied()) || !start.Less(head(t, b.store))
				})
				stop()
				select {
				case <-written:
					writing = false
				default:
				}
			}
			g, _ := group(t, b.store, b.db, 7, time.Hour)
			groupCaughtUp(t, g, b.store)
			sameRows(t, b.schema, fresh(t, b.store), projections.All()...)
		})
	}
}

// One projection stalls on an event it cannot apply while the others keep advancing past
// it, batch after batch; the stall is reported as a lone runner's is (position, Stalled);
// once the database takes the event, the stalled projection applies it, catches up and
// rejoins the group.
func TestAStalledProjectionLeavesTheGroupWhileTheOthersAdvance(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[1].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 10, Seed: 23}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.schema.Pool.Exec(ctx, `ALTER TABLE trigger_events ADD CONSTRAINT no_blocked CHECK (trigger <> 'examples.blocked')`); err != nil {
		t.Fatal(err)
	}
	before := fire(t, b.store, "examples.ping", `{"msg":"fine"}`)
	blocked := fire(t, b.store, "examples.blocked", `{"msg":"x"}`)
	fire(t, b.store, "examples.ping", `{"msg":"after"}`)

	g, _ := group(t, b.store, b.db, 0, 20*time.Millisecond)
	var events *projections.Runner
	var others []*projections.Runner
	for _, r := range g.Runners() {
		if r.Name() == projections.Events.Name {
			events = r
		} else {
			others = append(others, r)
		}
	}
	eventually(t, "the events projection to stall", func() bool { return events.Stalled() != nil })
	if st := events.Stalled(); st.Position != blocked.Position || st.Projection != projections.Events.Name {
		t.Fatalf("stalled at %+v, want the blocked event at %s", st, blocked.Position)
	}
	// The others go on, over several batches written after the stall.
	for round := range 3 {
		if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 5, Seed: uint64(30 + round)}); err != nil {
			t.Fatal(err)
		}
		h := head(t, b.store)
		for _, r := range others {
			eventually(t, r.Name()+" to pass the stalled event", func() bool { return !r.Applied().Less(h) })
			if r.Stalled() != nil {
				t.Errorf("%s stalled with the events projection: %v", r.Name(), r.Stalled())
			}
		}
		if st := events.Stalled(); st == nil || st.Position != blocked.Position {
			t.Fatalf("round %d: stalled %+v, want still at %s", round, st, blocked.Position)
		}
		if cp, err := b.db.Checkpoint(ctx, projections.Events.Name); err != nil || cp != before.Position {
			t.Fatalf("round %d: events checkpoint %s (%v), want %s, just before the blocked event", round, cp, err, before.Position)
		}
	}

	if _, err := b.schema.Pool.Exec(ctx, `ALTER TABLE trigger_events DROP CONSTRAINT no_blocked`); err != nil {
		t.Fatal(err)
	}
	groupCaughtUp(t, g, b.store)
	if st := events.Stalled(); st != nil {
		t.Fatalf("still stalled after catching up: %v", st)
	}
	// Back in the group: the next batch moves every checkpoint to one position.
	fire(t, b.store, "examples.ping", `{"msg":"together again"}`)
	groupCaughtUp(t, g, b.store)
	h := head(t, b.store)
	for _, p := range projections.All() {
		if cp, err := b.db.Checkpoint(ctx, p.Name); err != nil || cp != h {
			t.Errorf("%s checkpoint %s (%v), want the head %s", p.Name, cp, err, h)
		}
	}
	sameRows(t, b.schema, fresh(t, b.store), projections.All()...)
}

// Two servers, two groups on one database: one leads and applies, the other stands by on the
// group's one lock without applying anything, and takes over when the first stops.
func TestOnlyOneOfTwoGroupsApplies(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[1].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 20, Seed: 24}); err != nil {
		t.Fatal(err)
	}
	first, stopFirst := group(t, b.store, b.db, 0, time.Hour)
	groupCaughtUp(t, first, b.store)
	second, _ := group(t, b.store, b.db, 0, time.Hour)
	eventually(t, "the second group to stand by", func() bool {
		n, err := b.db.Standbys(ctx, projections.GroupName)
		return err == nil && n == 1
	})
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 10, Seed: 25}); err != nil {
		t.Fatal(err)
	}
	groupCaughtUp(t, first, b.store)
	for i, r := range second.Runners() {
		if r.Leading() || !first.Runners()[i].Leading() {
			t.Errorf("%s: first leading %v, second %v; want only the first", r.Name(), first.Runners()[i].Leading(), r.Leading())
		}
		if r.Applied() != eventstore.Start {
			t.Errorf("%s: the standby applied up to %s while waiting", r.Name(), r.Applied())
		}
	}

	stopFirst()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 10, Seed: 26}); err != nil {
		t.Fatal(err)
	}
	groupCaughtUp(t, second, b.store)
	sameRows(t, b.schema, fresh(t, b.store), projections.All()...)
}

// A rebuild under the live group: the rebuilt projection leaves the group while the rebuild
// holds it, the others carry on, and it rejoins from the rebuilt checkpoint.
func TestRebuildUnderTheGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[1].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 40, Seed: 27}); err != nil {
		t.Fatal(err)
	}
	g, _ := group(t, b.store, b.db, 0, time.Hour)
	groupCaughtUp(t, g, b.store)
	more := make(chan error, 1)
	go func() {
		_, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 40, Seed: 28})
		more <- err
	}()
	for _, p := range []projections.Projection{projections.Executions, projections.Streams} {
		if err := projections.Rebuild(ctx, b.store, b.db, p.Name); err != nil {
			t.Fatalf("rebuild %s during appends: %v", p.Name, err)
		}
	}
	if err := <-more; err != nil {
		t.Fatal(err)
	}
	groupCaughtUp(t, g, b.store)
	sameRows(t, b.schema, fresh(t, b.store), projections.All()...)
	for _, r := range g.Runners() {
		if !r.Leading() || r.Stalled() != nil {
			t.Errorf("%s after the rebuild: leading %v, stalled %v", r.Name(), r.Leading(), r.Stalled())
		}
	}
}
