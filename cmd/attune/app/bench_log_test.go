package app_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/cmd/attune/internal/benchlog"
	"github.com/attune-go/attune/cmd/attune/internal/measure"
)

// benchLogEvents is the size of BenchmarkPipelineLog's long log unless
// ATTUNE_BENCH_LOG_EVENTS says otherwise (the figure is 1000000): small by default so
// that `go test -bench .` stays quick; the template is built once per size and kept.
const benchLogEvents = 20_000

// BenchmarkPipelineLog is BenchmarkPipeline's in-process core.noop run on a log that is
// already long against one that is empty, side by side: each sub-benchmark clones a
// template database (cmd/attune/internal/benchlog: executions as the pipeline writes them,
// read models projected, the relay at the head) and starts the server on the clone. The cost
// of an execution should not depend on the log's length (issue 11: within 10%).
//
//	ATTUNE_BENCH_LOG_EVENTS=1000000 go test -run '^$' -bench PipelineLog -benchtime 2000x -timeout 60m ./cmd/attune/app/
func BenchmarkPipelineLog(b *testing.B) {
	events := benchLogEvents
	if v := os.Getenv("ATTUNE_BENCH_LOG_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("ATTUNE_BENCH_LOG_EVENTS=%q: want a number of events", v)
		}
		events = n
	}
	for _, size := range []int{0, events} {
		b.Run(fmt.Sprintf("events=%d/inprocess/core.noop", size), func(b *testing.B) {
			ctx := context.Background()
			l, err := benchlog.Clone(ctx, pgtest.URL(), size, b.Logf)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := l.Drop(context.Background(), pgtest.URL()); err != nil {
					b.Error(err)
				}
			})
			probe, err := measure.Connect(ctx, l.URL, benchlog.Schema, "attune-bench-probe", 2, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(probe.Close)
			benchmarkRuns(b, startServerOn(b, "inprocess", "", l.URL, benchlog.Schema, probe), "core.noop")
			b.ReportMetric(float64(l.Events), "log_events")
		})
	}
}
