package projections_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/readmodel/readmodeltest"
	"github.com/attune-go/attune/projections"
)

// stores are the logs the runner is proven on: it must work on any eventstore.Store, while
// the read models are always Postgres. pgstore keeps its log in the read models' schema, as
// a deployment does.
var stores = []struct {
	name string
	open func(t *testing.T, s *pgtest.Schema) eventstore.Store
}{
	{"memstore", func(*testing.T, *pgtest.Schema) eventstore.Store { return memstore.New(memstore.Config{}) }},
	{"pgstore", func(t *testing.T, s *pgtest.Schema) eventstore.Store {
		st, err := pgstore.New(context.Background(), s.Pool, pgstore.Config{PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
}

type bundle struct {
	store  eventstore.Store
	schema *pgtest.Schema
	db     *readmodel.DB
}

func setup(t *testing.T, open func(*testing.T, *pgtest.Schema) eventstore.Store) bundle {
	t.Helper()
	s := pgtest.New(t)
	return bundle{store: open(t, s), schema: s, db: readmodel.New(s.Pool)}
}

// table names a projection's read model (its first table), for benchmark names.
func table(p projections.Projection) string { return tables(p)[0] }

// tables lists the tables a projection writes.
func tables(p projections.Projection) []string {
	switch p.Name {
	case projections.Catalog.Name:
		return []string{"packs", "pack_components"}
	case projections.Events.Name:
		return []string{"trigger_events"} // "events" is the log
	case projections.Workflows.Name:
		return []string{"workflows", "workflow_tasks"}
	case projections.Policies.Name:
		return []string{"policies", "policy_members"}
	case projections.KV.Name:
		return []string{"kv_keys"}
	}
	return []string{strings.TrimPrefix(p.Name, "projection:")}
}

// runner starts a Runner for p; stop cancels it and waits until Run has returned.
func runner(t *testing.T, b bundle, p projections.Projection, maxBatch int) (r *projections.Runner, stop func()) {
	t.Helper()
	r, err := projections.New(projections.Config{
		Projection: p, Store: b.store, Target: b.db, MaxBatch: maxBatch,
		Logger: slog.New(slog.DiscardHandler), RetryDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run %s: %v", p.Name, err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// head is the position of the last event of the log.
func head(t *testing.T, s eventstore.Store) eventstore.Position {
	t.Helper()
	cursor := eventstore.Start
	for {
		batch, err := s.ReadAll(context.Background(), cursor, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			return cursor
		}
		cursor = batch[len(batch)-1].Position
	}
}

// eventually polls cond until it holds, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition; never waits for time itself
	}
}

func caughtUp(t *testing.T, r *projections.Runner, s eventstore.Store) {
	t.Helper()
	h := head(t, s)
	eventually(t, r.Name()+" to reach "+h.String(), func() bool { return !r.Applied().Less(h) })
}

// fresh builds every projection from scratch into a new schema, in one catch-up each.
func fresh(t *testing.T, s eventstore.Store) *pgtest.Schema {
	t.Helper()
	other := pgtest.New(t)
	if err := projections.Replay(context.Background(), s, readmodel.New(other.Pool), eventstore.Start); err != nil {
		t.Fatalf("build from scratch: %v", err)
	}
	return other
}

// sameRows fails unless both schemas hold the same rows, column by column, in the tables of
// ps, and the same checkpoints for them.
func sameRows(t *testing.T, got, want *pgtest.Schema, ps ...projections.Projection) {
	t.Helper()
	for _, p := range ps {
		for _, tb := range tables(p) {
			diff(t, tb, readmodeltest.Dump(t, got.Pool, tb), readmodeltest.Dump(t, want.Pool, tb))
		}
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	only := func(cps []string) []string {
		return slices.DeleteFunc(cps, func(cp string) bool { return !slices.Contains(names, strings.Fields(cp)[0]) })
	}
	diff(t, "checkpoints", only(readmodeltest.Checkpoints(t, got.Pool)), only(readmodeltest.Checkpoints(t, want.Pool)))
}

func diff(t *testing.T, table string, g, w []string) {
	t.Helper()
	if len(w) == 0 {
		t.Errorf("%s: the reference build is empty", table)
	}
	if len(g) != len(w) {
		t.Errorf("%s: %d rows, want %d", table, len(g), len(w))
	}
	shown := 0
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] && shown < 3 {
			shown++
			t.Errorf("%s row %d:\n got %s\nwant %s", table, i, g[i], w[i])
		}
	}
}
