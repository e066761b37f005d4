package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/cmd/attune/app"
	"github.com/attune-go/attune/cmd/attune/internal/measure"
)

// BenchmarkPipeline measures end-to-end throughput and latency of the whole system: b.N
// executions requested through the HTTP API by 64 concurrent clients, until every one is
// completed in the executions read model. Latency is requested → completed, from the log's
// own timestamps (created_at and finished_at of the projection). Per execution it also
// reports this process's CPU (server and clients: cpu_ms/exec), the CPU of the server's
// PostgreSQL backends (pg_cpu_ms/exec, from /proc: the server must be local), and the
// statements, transactions and writing transactions its sessions sent (stmts/exec, tx/exec,
// write_tx/exec; see measure.Tracer).
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
	url     string // the API's base URL
	api     *apiclient.Client
	pool    *pgxpool.Pool // the harness's own session on the server's schema: not measured
	tracer  *measure.Tracer
	appName string // every session of the server is named with it (pool, locks, LISTEN)
	amqp    bool   // on RabbitMQ
}

func startServer(b *testing.B, transport, pack string) server {
	b.Helper()
	s := pgtest.New(b)
	return startServerOn(b, transport, pack, pgtest.URL(), s.Name, s.Pool)
}

// startServerOn starts the server on a schema of the database at dbURL, with pack loaded
// (none if empty); probe is the harness's own pool on it.
func startServerOn(b *testing.B, transport, pack, dbURL, schema string, probe *pgxpool.Pool) server {
	b.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secret.New(key)
	if err != nil {
		b.Fatal(err)
	}
	// The test schema's own pool is kept small for parallel tests; the server gets a real one,
	// named so that its PostgreSQL backends can be told apart, with a tracer that counts its
	// statements.
	tracer := measure.NewTracer()
	appName := "attune-bench-" + strings.ToLower(ulid.Make().String()[20:])
	pool, err := measure.Connect(context.Background(), dbURL, schema, appName, 0, tracer)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	var packs []string
	if pack != "" {
		packs = []string{pack}
	}
	cfg := app.Config{
		Pool: pool, HTTPAddr: "127.0.0.1:0", Box: box, Packs: packs,
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
		return server{url: "http://" + addr, api: api, pool: probe, tracer: tracer, appName: appName, amqp: cfg.AMQPURL != ""}
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

	// What the run costs, from here to the last execution's end: this process's CPU (server
	// and the benchmark's clients alike, as it all runs here), the CPU of the server's
	// PostgreSQL backends, and the statements and transactions its sessions sent.
	backends := measure.NewBackends(srv.pool, srv.appName)
	if err := backends.Start(ctx, 200*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	cpu0, sql0 := measure.SelfCPU(), srv.tracer.Counts()
	// The broker's CPU (RabbitMQ mode, a local node): shared with whatever else uses it, so
	// an upper bound of what this run cost it.
	broker, measureBroker := measure.BrokerPID()
	measureBroker = measureBroker && srv.amqp
	var broker0 time.Duration
	if measureBroker {
		broker0, _ = measure.ProcessCPU(broker)
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
	// measurement from loading the server it measures (the harness's session is not counted).
	done, err := measure.WaitFinished(ctx, srv.pool, ids, time.Now().Add(5*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	if done < len(ids) {
		b.Fatalf("only %d of %d executions ended within 5 minutes", done, len(ids))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, sql := measure.SelfCPU()-cpu0, srv.tracer.Counts().Sub(sql0)
	if measureBroker {
		if broker1, err := measure.ProcessCPU(broker); err == nil {
			b.ReportMetric(measure.Ms(broker1-broker0)/float64(b.N), "broker_cpu_ms/exec")
		}
	}
	pgCPU, _, err := backends.Stop(ctx)
	if err != nil {
		b.Fatal(err)
	}
	xs, err := measure.Executions(ctx, srv.pool, ids)
	if err != nil {
		b.Fatal(err)
	}
	reasons := map[string]int{}
	for _, x := range xs {
		if x.Status != "completed" {
			reasons[x.Status+": "+x.Reason]++
		}
	}
	if len(reasons) > 0 {
		b.Fatalf("executions did not complete: %v", reasons)
	}
	latencies := measure.Latencies(xs)
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "executions/s")
	b.ReportMetric(n/requested.Seconds(), "requests/s")
	b.ReportMetric(measure.Ms(measure.Percentile(latencies, 0.50)), "p50_ms")
	b.ReportMetric(measure.Ms(measure.Percentile(latencies, 0.99)), "p99_ms")
	b.ReportMetric(measure.Ms(cpu)/n, "cpu_ms/exec")
	b.ReportMetric(measure.Ms(pgCPU)/n, "pg_cpu_ms/exec")
	b.ReportMetric(float64(sql.Statements)/n, "stmts/exec")
	b.ReportMetric(float64(sql.Transactions)/n, "tx/exec")
	b.ReportMetric(float64(sql.WriteTransactions)/n, "write_tx/exec")
}
