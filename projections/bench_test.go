package projections_test

import (
	"context"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
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
}
