package projections_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/readmodel/readmodeltest"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/internal/lifecycle"
)

// BenchmarkProject rebuilds each projection from a log of about 65,000 events (execution
// lifecycles, ~5.6 events each, most after their trigger event and enforcement) held in
// memory, so the figure is the projection's cost alone: decode, one load and one multi-row
// upsert per batch of 1,000, one commit. events/s counts every event of the log, read or
// skipped.
// Run: go test ./projections -run '^$' -bench Project -benchtime 2x
func BenchmarkProject(b *testing.B) {
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	w, err := lifecycle.Write(ctx, store, lifecycle.Config{Executions: 6900, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range projections.All() {
		b.Run(table(p), func(b *testing.B) {
			db := readmodel.New(pgtest.New(b).Pool)
			for b.Loop() {
				if err := db.Reset(ctx, p.Name); err != nil {
					b.Fatal(err)
				}
				if _, err := projections.CatchUp(ctx, store, db, p, eventstore.Start); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.Events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(w.Events), "events/op")
		})
	}
	// Every read model at once through one Group (one reader, one transaction per batch of
	// 1,000 for all ten): compare with the sum of the ten above.
	b.Run("group", func(b *testing.B) {
		db := readmodel.New(pgtest.New(b).Pool)
		h, err := store.Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			for _, p := range projections.All() {
				if err := db.Reset(ctx, p.Name); err != nil {
					b.Fatal(err)
				}
			}
			g, err := projections.NewGroup(projections.GroupConfig{Projections: projections.All(), Store: store, Target: db, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- g.Run(runCtx) }()
			for _, r := range g.Runners() {
				for r.Applied().Less(h) {
					time.Sleep(time.Millisecond) // polls a condition
				}
			}
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(w.Events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(w.Events), "events/op")
	})
}

// BenchmarkFollow measures what keeping every read model current costs PostgreSQL while the
// log grows a little at a time, as it does under a live server: each op appends the next six
// events of an execution-lifecycle log (one append each, as handlers do), then waits until
// every projection has applied them. "runners" is one Runner per projection, each with its
// own subscription and transactions; "group" is one Group. statements/op counts everything
// the projectors send, reads of the log included (a traced pool); transactions/op the
// transactions they commit.
// Run: go test ./projections -run '^$' -bench Follow -benchtime 300x
func BenchmarkFollow(b *testing.B) {
	for _, mode := range []string{"runners", "group"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			source := memstore.New(memstore.Config{})
			if _, err := lifecycle.Write(ctx, source, lifecycle.Config{Executions: 2*b.N + 80, Seed: 9}); err != nil {
				b.Fatal(err)
			}
			events, err := source.ReadAll(ctx, eventstore.Start, 6*b.N+1000)
			if err != nil {
				b.Fatal(err)
			}
			s := pgtest.New(b)
			writer, err := pgstore.New(ctx, s.Pool, pgstore.Config{})
			if err != nil {
				b.Fatal(err)
			}
			pool, trace := readmodeltest.TracedPool(b, s.Name, 4)
			reader, err := pgstore.New(ctx, pool, pgstore.Config{})
			if err != nil {
				b.Fatal(err)
			}
			target := readmodel.New(pool)
			runCtx, cancel := context.WithCancel(ctx)
			var running sync.WaitGroup
			b.Cleanup(func() { cancel(); running.Wait() })
			var rs []*projections.Runner
			quiet := slog.New(slog.DiscardHandler)
			if mode == "group" {
				g, err := projections.NewGroup(projections.GroupConfig{Projections: projections.All(), Store: reader, Target: target, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				rs = g.Runners()
				running.Go(func() { _ = g.Run(runCtx) })
			} else {
				for _, p := range projections.All() {
					r, err := projections.New(projections.Config{Projection: p, Store: reader, Target: target, Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					rs = append(rs, r)
					running.Go(func() { _ = r.Run(runCtx) })
				}
			}
			next := 0
			step := func(n int) {
				for _, e := range events[min(next, len(events)):min(next+n, len(events))] {
					expected := eventstore.Exact(e.StreamVersion - 1)
					if e.StreamVersion == 1 {
						expected = eventstore.NoStream
					}
					_, err := writer.Append(ctx, e.StreamID, expected, eventstore.Proposed{
						ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				last, err := writer.Head(ctx)
				if err != nil {
					b.Fatal(err)
				}
				next += n
				for _, r := range rs {
					for r.Applied().Less(last) {
						time.Sleep(100 * time.Microsecond) // polls a condition
					}
				}
			}
			step(300) // the catalogue and the first executions: warm caches and plans
			stmts0, txs0 := trace.Counts()
			b.ResetTimer()
			for range b.N {
				step(6)
			}
			b.StopTimer()
			stmts, txs := trace.Counts()
			b.ReportMetric(float64(stmts-stmts0)/float64(b.N), "statements/op")
			b.ReportMetric(float64(txs-txs0)/float64(b.N), "transactions/op")
		})
	}
}
