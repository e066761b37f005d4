package projections_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/readmodel/readmodeltest"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/internal/lifecycle"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/streams"
)

// TestRebuildEqualsLive rebuilds each projection under its live runner: the rebuilt tables
// equal the live ones row by row, and the live runner, paused meanwhile, carries on from the
// rebuilt checkpoint with events appended during the rebuild.
func TestRebuildEqualsLive(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, st.open)
			ctx := context.Background()
			if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 200, Seed: 4, TraceTag: "first"}); err != nil {
				t.Fatal(err)
			}
			var live []*projections.Runner
			for _, p := range projections.All() {
				r, _ := runner(t, b, p, 0)
				live = append(live, r)
			}
			for _, r := range live {
				caughtUp(t, r, b.store)
			}
			rows := map[string][]string{}
			for _, p := range projections.All() {
				for _, tb := range tables(p) {
					rows[tb] = readmodeltest.Dump(t, b.schema.Pool, tb)
					if len(rows[tb]) == 0 {
						t.Errorf("%s: the lifecycle log left it empty; it proves nothing", tb)
					}
				}
			}

			for _, p := range projections.All() {
				if err := projections.Rebuild(ctx, b.store, b.db, p.Name); err != nil {
					t.Fatalf("rebuild %s: %v", p.Name, err)
				}
			}
			for _, p := range projections.All() {
				for _, tb := range tables(p) {
					if got := readmodeltest.Dump(t, b.schema.Pool, tb); !slices.Equal(got, rows[tb]) {
						t.Errorf("%s: rebuilt %d rows differ from the %d live ones", tb, len(got), len(rows[tb]))
					}
				}
			}

			// Rebuild again while the log grows: the live runners wait, then resume.
			more := make(chan error, 1)
			go func() {
				_, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 100, Seed: 5, TraceTag: "second"})
				more <- err
			}()
			for _, p := range projections.All() {
				if err := projections.Rebuild(ctx, b.store, b.db, p.Name); err != nil {
					t.Fatalf("rebuild %s during appends: %v", p.Name, err)
				}
			}
			if err := <-more; err != nil {
				t.Fatal(err)
			}
			for _, r := range live {
				caughtUp(t, r, b.store)
			}
			sameRows(t, b.schema, fresh(t, b.store), projections.All()...)
			for _, r := range live {
				if !r.Leading() {
					t.Errorf("the live runner of %s stopped leading over a rebuild", r.Name())
				}
			}
		})
	}
}

func TestRebuildRefusesAnUnknownProjection(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[0].open)
	if err := projections.Rebuild(context.Background(), b.store, b.db, "projection:nope"); err == nil {
		t.Error("rebuilt a projection that does not exist")
	}
}

// canonical re-encodes JSON the way every comparison here sees it (jsonb reorders keys).
func canonical(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

// TestReplayBuildsTheReadModelsAsOfAPosition replays into a separate schema up to a
// position in the middle of the log: the rows are what the events up to it make, not one
// event more; replaying on to the head then matches the live read models.
func TestReplayBuildsTheReadModelsAsOfAPosition(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, st.open)
			ctx := context.Background()
			if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 120, Seed: 6}); err != nil {
				t.Fatal(err)
			}
			log, err := b.store.ReadAll(ctx, eventstore.Start, 100000)
			if err != nil {
				t.Fatal(err)
			}
			cut := len(log) * 2 / 5
			until := log[cut-1].Position

			audit := pgtest.New(t)
			target := readmodel.New(audit.Pool)
			if err := projections.Replay(ctx, b.store, target, until); err != nil {
				t.Fatalf("replay to %s: %v", until, err)
			}

			want := memtx.New()
			for _, p := range projections.All() {
				if err := p.Apply(ctx, want, log[:cut]); err != nil {
					t.Fatal(err)
				}
				if cp, err := target.Checkpoint(ctx, p.Name); err != nil || cp != until {
					t.Errorf("%s checkpoint = %s (%v), want %s", p.Name, cp, err, until)
				}
			}
			if len(want.Executions) == 0 || len(want.Executions) == len(b.execIDs(t)) {
				t.Fatalf("the cut keeps %d executions: pick a cut inside the log", len(want.Executions))
			}
			var got []executions.Execution
			for f := (executions.Filter{Limit: executions.MaxLimit}); ; {
				page, err := target.ListExecutions(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range page.Items {
					full, err := target.GetExecution(ctx, x.ID)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, full)
				}
				if f.Cursor = page.Next; f.Cursor == "" {
					break
				}
			}
			if len(got) != len(want.Executions) {
				t.Errorf("replayed %d executions, want %d", len(got), len(want.Executions))
			}
			for _, g := range got {
				w := want.Executions[g.ID]
				g.Parameters, g.Result = canonical(t, g.Parameters), canonical(t, g.Result)
				w.Parameters, w.Result = canonical(t, w.Parameters), canonical(t, w.Result)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("execution %s as of %s:\n got %+v\nwant %+v", g.ID, until, g, w)
					break
				}
			}
			page, err := target.ListStreams(ctx, streams.Filter{Limit: streams.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			wantStreams := slices.Collect(maps.Values(want.Streams))
			slices.SortFunc(wantStreams, func(a, b streams.Stream) int { return compare(a.ID, b.ID) })
			if !reflect.DeepEqual(page.Items, wantStreams) {
				t.Errorf("streams as of %s: got %d rows, want %d, or they differ", until, len(page.Items), len(wantStreams))
			}

			sameAsReference(t, target, want, until)

			// The audit schema carries on to the head and then equals the live read models.
			if err := projections.Replay(ctx, b.store, target, eventstore.Start); err != nil {
				t.Fatal(err)
			}
			for _, p := range projections.All() {
				r, _ := runner(t, b, p, 0)
				caughtUp(t, r, b.store)
			}
			sameRows(t, audit, b.schema, projections.All()...)
			// A replay cannot go back: a schema already past the position refuses it.
			if err := projections.Replay(ctx, b.store, target, until); err == nil {
				t.Error("replayed a schema back to an earlier position")
			}
		})
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// execIDs lists the executions of the whole log, to check the cut lies inside it.
func (b bundle) execIDs(t *testing.T) map[string]bool {
	t.Helper()
	log, err := b.store.ReadAll(context.Background(), eventstore.Start, 100000)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range log {
		ids[r.StreamID] = true
	}
	return ids
}
