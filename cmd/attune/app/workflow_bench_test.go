package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWorkflowWithItems runs one workflow whose single task fans out over N core.noop
// items at concurrency 50, through the whole system, and reports the engine's overhead per
// task: the workflow's duration from the log (requested → completed) divided by N (the noop
// itself costs microseconds). It must stay flat as N grows.
func BenchmarkWorkflowWithItems(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "wf")
			for name, content := range map[string]string{
				"pack.yaml":                  "ref: wf\nversion: 1.0.0\n",
				"actions/fan.yaml":           "name: fan\nrunner_type: workflow\nentry_point: workflows/fan.yaml\nparameters:\n  items: {type: array, required: true}\n",
				"actions/workflows/fan.yaml": "version: 1\ntasks:\n  each:\n    action: core.noop\n    with: {items: \"{{ parameters.items }}\", concurrency: 50}\n",
			} {
				p := filepath.Join(dir, name)
				_ = os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			srv := startServer(b, "inprocess", dir)
			items := make([]int, n)
			for i := range items {
				items[i] = i
			}
			raw, _ := json.Marshal(items)
			ctx := context.Background()
			b.ResetTimer()
			var total time.Duration
			for range b.N {
				x, err := srv.api.Run(ctx, "wf.fan", map[string]json.RawMessage{"items": raw})
				if err != nil {
					b.Fatal(err)
				}
				done, err := srv.api.Wait(ctx, x.ID, nil)
				if err != nil {
					b.Fatal(err)
				}
				if done.Status != "completed" {
					b.Fatalf("workflow %s: %s (%s)", x.ID, done.Status, done.Reason)
				}
				// The log's own timestamps: requested → completed, free of the client's polling.
				total += done.FinishedAt.Sub(done.CreatedAt)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N*n), "ms/task")
		})
	}
}
