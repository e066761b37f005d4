package projections_test

import (
	"context"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/internal/lifecycle"
)

// TestRunnerIsExactlyOnceAcrossCrashes kills the runners again and again while the log
// grows — each kill cancels whatever the runner is doing, often a batch transaction half
// written — and restarts them. The tables must end exactly as one uninterrupted build makes
// them: no event lost, none applied twice (the streams table counts events, so a batch
// applied twice would show).
func TestRunnerIsExactlyOnceAcrossCrashes(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, st.open)
			ctx := context.Background()
			written := make(chan lifecycle.Written, 1)
			go func() {
				w, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 150, Seed: 1})
				if err != nil {
					t.Error(err)
				}
				written <- w
			}()

			var w lifecycle.Written
			for crash, writing := 0, true; writing || crash < 6; crash++ {
				start := map[string]eventstore.Position{}
				for _, p := range projections.All() {
					cp, err := b.db.Checkpoint(ctx, p.Name)
					if err != nil {
						t.Fatal(err)
					}
					start[p.Name] = cp
				}
				// Small batches: many transactions, so the kills land inside one (and the
				// folds are proven to give the rows one big batch gives).
				var rs []*projections.Runner
				var stops []func()
				for _, p := range projections.All() {
					r, stop := runner(t, b, p, 7)
					rs, stops = append(rs, r), append(stops, stop)
				}
				for _, r := range rs {
					eventually(t, r.Name()+" to apply a batch after restart", func() bool {
						return start[r.Name()].Less(r.Applied()) || !start[r.Name()].Less(head(t, b.store))
					})
				}
				for _, stop := range stops {
					stop()
				}
				select {
				case w = <-written:
					writing = false
				default:
				}
			}

			for _, p := range projections.All() {
				r, _ := runner(t, b, p, 7)
				caughtUp(t, r, b.store)
			}
			sameRows(t, b.schema, fresh(t, b.store), projections.All()...)
			page, err := b.db.ListExecutions(ctx, executions.Filter{Limit: executions.MaxLimit})
			if err != nil || len(page.Items) != w.Executions {
				t.Errorf("listed %d executions (%v), wrote %d", len(page.Items), err, w.Executions)
			}
		})
	}
}

// TestStandbyTakesOverWhenTheLeaderStops runs two runners of one projection: one applies,
// the other waits on the lock, then carries on from the checkpoint when the first stops.
func TestStandbyTakesOverWhenTheLeaderStops(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[0].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 30, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	first, stopFirst := runner(t, b, projections.Executions, 0)
	caughtUp(t, first, b.store)
	second, _ := runner(t, b, projections.Executions, 0)
	eventually(t, "the second runner to stand by", func() bool {
		n, err := b.db.Standbys(ctx, projections.Executions.Name)
		return err == nil && n == 1
	})
	if !first.Leading() || second.Leading() {
		t.Fatalf("leading: first %v, second %v; want only the first", first.Leading(), second.Leading())
	}
	if second.Applied() != eventstore.Start {
		t.Errorf("the standby applied up to %s while waiting", second.Applied())
	}

	stopFirst()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 30, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	caughtUp(t, second, b.store)
	if !second.Leading() {
		t.Error("the second runner applies without leading")
	}
	sameRows(t, b.schema, fresh(t, b.store), projections.Executions)
}

// TestRunnerRetriesAFailedBatchWithoutSkippingIt makes a projection fail its first batches
// (the database going away looks the same to the runner): the runner must retry from its
// checkpoint, not move past the batch, and end equal to a clean build.
func TestRunnerRetriesAFailedBatchWithoutSkippingIt(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[0].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 40, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	failures := 3
	flaky := projections.Projection{Name: projections.Executions.Name, Apply: func(ctx context.Context, tx projections.Tx, batch []eventstore.Recorded) error {
		// Write first, then fail: the rows must roll back with the checkpoint.
		if err := projections.Executions.Apply(ctx, tx, batch); err != nil {
			return err
		}
		if failures > 0 {
			failures--
			return errors.New("connection reset by peer")
		}
		return nil
	}}
	r, _ := runner(t, b, flaky, 50)
	caughtUp(t, r, b.store)
	if failures != 0 {
		t.Errorf("%d planned failures left: the runner did not retry", failures)
	}
	sameRows(t, b.schema, fresh(t, b.store), projections.Executions)
}
