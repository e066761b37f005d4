package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/cmd/attune/app"
)

// BenchmarkPipeline measures end-to-end throughput and latency of the whole system: b.N
// executions requested through the HTTP API by 64 concurrent clients, until every one is
// completed in the executions read model. Latency is requested → completed, from the log's
// own timestamps (created_at and finished_at of the projection).
func BenchmarkPipeline(b *testing.B) {
	shellPack := filepath.Join(b.TempDir(), "bench")
	for name, content := range map[string]string{
		"pack.yaml":         "ref: bench\nversion: 1.0.0\n",
		"actions/true.yaml": "name: \"true\"\nrunner_type: shell\nentry_point: true.sh\n",
		"actions/true.sh":   "true\n",
	} {
		p := filepath.Join(shellPack, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, transport := range []string{"inprocess", "rabbitmq"} {
		for _, action := range []string{"core.noop", "bench.true"} {
			b.Run(transport+"/"+action, func(b *testing.B) {
				benchmarkRuns(b, startServer(b, transport, shellPack), action)
			})
		}
	}
}

type server struct {
	api  *apiclient.Client
	pool *pgxpool.Pool
}

func startServer(b *testing.B, transport, pack string) server {
	b.Helper()
	s := pgtest.New(b)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secret.New(key)
	if err != nil {
		b.Fatal(err)
	}
	// The test schema's own pool is kept small for parallel tests; the server gets a real one.
	pool, err := postgres.Connect(context.Background(), pgtest.URL(), s.Name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	cfg := app.Config{
		Pool: pool, HTTPAddr: "127.0.0.1:0", Box: box, Packs: []string{pack},
		Worker:  &app.WorkerConfig{MaxConcurrency: 16, Contain: contain.Config{AllowRoot: true}},
		Contain: contain.Config{AllowRoot: true},
		NoAuth:  true, // the benchmark measures the pipeline, not token lookups
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	if transport == "rabbitmq" {
		cfg.AMQPURL = bustest.URL()
		cfg.BusPrefix = "bench-" + strings.ToLower(ulid.Make().String()) + "."
		cfg.BusQueueExpiry = bustest.QueueExpiry
		bustest.CleanupPrefix(b, cfg.BusPrefix)
	}
	ready := make(chan string, 1)
	cfg.Ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case addr := <-ready:
		api, err := apiclient.New("http://"+addr, "")
		if err != nil {
			b.Fatal(err)
		}
		return server{api: api, pool: s.Pool}
	case err := <-done:
		b.Fatalf("server stopped: %v", err)
	case <-time.After(60 * time.Second):
		b.Fatal("server not ready after 60s")
	}
	return server{}
}

func benchmarkRuns(b *testing.B, srv server, action string) {
	api := srv.api
	ctx := context.Background()
	// Warm up: the first run pays for connections and caches.
	if x, err := api.Run(ctx, action, nil); err != nil {
		b.Fatal(err)
	} else if _, err := api.Wait(ctx, x.ID, nil); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	next := make(chan struct{})
	go func() {
		for range b.N {
			next <- struct{}{}
		}
		close(next)
	}()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				x, err := api.Run(ctx, action, map[string]json.RawMessage{})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, x.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	requested := time.Since(start)

	// Wait until every execution is terminal in the read model. Counting in SQL keeps the
	// measurement from loading the server it measures.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var done int
		if err := srv.pool.QueryRow(ctx, `SELECT count(*) FROM executions WHERE action = $1 AND finished_at IS NOT NULL`, action).Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done >= b.N+1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d executions ended within 5 minutes", done, b.N+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var latencies []time.Duration
	reasons := map[string]int{}
	q := url.Values{"action": {action}, "limit": {"1000"}}
	for {
		page, err := api.Executions(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		for _, x := range page.Items {
			if x.Status != "completed" {
				reasons[string(x.Status)+": "+x.Reason]++
			}
			latencies = append(latencies, x.FinishedAt.Sub(x.CreatedAt))
		}
		if page.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.NextCursor)
	}
	if len(reasons) > 0 {
		b.Fatalf("executions did not complete: %v", reasons)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(b.N)/requested.Seconds(), "requests/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}
