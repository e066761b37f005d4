package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

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
			srv := startServerOn(b, "inprocess", "", l.URL, benchlog.Schema, probe)
			waitCaughtUp(b, srv)
			benchmarkRuns(b, srv, "core.noop")
			b.ReportMetric(float64(l.Events), "log_events")
		})
	}
}

// waitCaughtUp waits until /readyz answers 200: the relay and every projection within the
// ready lag of the log's head. A clone whose checkpoints do not say "caught up" (benchlog out
// of step with how the server keeps its cursors) would have the server work through the whole
// log during the measurement; that fails here instead.
func waitCaughtUp(b *testing.B, srv server) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(srv.url + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("the server on the prefilled log is not caught up after a minute (is benchlog setting every checkpoint?): %s", body)
			}
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
