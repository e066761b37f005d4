package pgstore_test

// Store benchmarks beside raw-pgx baselines on the same table: the adapter should reach most
// of what the driver can do (batched append >= 80% of a raw pgx.Batch) and wake a subscriber
// within a few milliseconds of a commit. Run: go test -run '^$' -bench . -benchtime 2s ./adapters/pgstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

const benchWriters = 8

// benchData is a realistic small payload.
var benchData = []byte(`{"execution_id":"01J9Z8Q4N5X3K2M1P0R7S6T5V4","action":"core.local","parameters":{"cmd":"echo hello"},"status":"requested"}`)

func benchEvent() eventstore.Proposed {
	p := proposed("ExecutionRequested")
	p.Data = benchData
	return p
}

func reportRate(b *testing.B, events int, elapsed time.Duration, unit string) {
	b.ReportMetric(float64(events)/elapsed.Seconds(), unit)
}

// runWriters spreads b.N operations over benchWriters goroutines and returns the wall time.
func runWriters(b *testing.B, op func(writer, i int) error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range benchWriters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func BenchmarkAppendSingle8Writers(b *testing.B) {
	schema := pgtest.New(b)
	s := newStore(b, bigPool(b, schema, benchWriters+2), pgstore.Config{})
	versions := make([]int64, benchWriters)
	b.ResetTimer()
	elapsed := runWriters(b, func(w, _ int) error {
		res, err := s.Append(context.Background(), fmt.Sprintf("bench-%d", w), eventstore.Exact(versions[w]), benchEvent())
		versions[w] = res.NextExpected
		return err
	})
	reportRate(b, b.N, elapsed, "events/s")
}

func BenchmarkAppendBatch100(b *testing.B) {
	s := newStore(b, pgtest.New(b).Pool, pgstore.Config{})
	batches := make([][]eventstore.Proposed, b.N)
	for i := range batches {
		batches[i] = make([]eventstore.Proposed, 100)
		for j := range batches[i] {
			batches[i][j] = benchEvent()
		}
	}
	b.ResetTimer()
	start := time.Now()
	var version int64
	for i := range b.N {
		res, err := s.Append(context.Background(), "bench", eventstore.Exact(version), batches[i]...)
		if err != nil {
			b.Fatal(err)
		}
		version = res.NextExpected
	}
	reportRate(b, 100*b.N, time.Since(start), "events/s")
}

func BenchmarkReadAllCatchUp(b *testing.B) {
	const events = 100_000
	schema := pgtest.New(b)
	copyRows(b, schema.Pool, "catchup", 0, events)
	s := newStore(b, schema.Pool, pgstore.Config{})
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		cursor, n := eventstore.Start, 0
		for {
			batch, err := s.ReadAll(context.Background(), cursor, 500)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			n += len(batch)
			cursor = batch[len(batch)-1].Position
		}
		if n != events {
			b.Fatalf("read %d events, want %d", n, events)
		}
	}
	reportRate(b, events*b.N, time.Since(start), "rows/s")
}

func BenchmarkSubscriberWakeup(b *testing.B) {
	s := newStore(b, pgtest.New(b).Pool, pgstore.Config{})
	seen := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, eventstore.Start, func(_ context.Context, batch []eventstore.Recorded) error {
			seen <- time.Now()
			return nil
		})
	}()
	// Let the subscriber start (and its listener connect) before measuring.
	if _, err := s.Append(ctx, "wake", eventstore.NoStream, benchEvent()); err != nil {
		b.Fatal(err)
	}
	<-seen
	// lat: from the append's return (commit acknowledged) to fn; e2e: from the append's call.
	lat, e2e := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		called := time.Now()
		if _, err := s.Append(ctx, "wake", eventstore.Exact(int64(i+1)), benchEvent()); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		at := <-seen
		lat = append(lat, max(0, at.Sub(committed))) // fn may run before Append has returned
		e2e = append(e2e, at.Sub(called))
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	slices.Sort(e2e)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99_ms")
	b.ReportMetric(ms(e2e[len(e2e)/2]), "e2e_p50_ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// The raw baselines write the same columns, with pgx and nothing else.

const rawInsertSQL = `INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6::text::json, $7::text::json, $8, $9, $10)`

var rawColumns = []string{"event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata", "recorded_at", "prev_hash", "hash"}

func rawRow(stream string, version int64) []any {
	h := sha256.Sum256([]byte(stream))
	var prev []byte
	if version > 1 {
		prev = h[:]
	}
	return []any{[16]byte(ulid.Make()), stream, version, "ExecutionRequested", 1, string(benchData),
		`{"actor":"bench"}`, time.Now().UTC(), prev, h[:]}
}

func BenchmarkRawInsertSingle8Writers(b *testing.B) {
	pool := bigPool(b, pgtest.New(b), benchWriters+2)
	versions := make([]int64, benchWriters)
	b.ResetTimer()
	elapsed := runWriters(b, func(w, _ int) error {
		versions[w]++
		_, err := pool.Exec(context.Background(), rawInsertSQL, rawRow(fmt.Sprintf("raw-%d", w), versions[w])...)
		return err
	})
	reportRate(b, b.N, elapsed, "events/s")
}

func BenchmarkRawBatch100(b *testing.B) {
	pool := pgtest.New(b).Pool
	b.ResetTimer()
	start := time.Now()
	var version int64
	for range b.N {
		batch := &pgx.Batch{}
		for range 100 {
			version++
			batch.Queue(rawInsertSQL, rawRow("raw", version)...)
		}
		err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			return tx.SendBatch(context.Background(), batch).Close()
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, 100*b.N, time.Since(start), "events/s")
}

func BenchmarkRawCopy(b *testing.B) {
	const perCopy = 1000
	pool := pgtest.New(b).Pool
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		copyRows(b, pool, "raw", int64(i*perCopy), perCopy)
	}
	reportRate(b, perCopy*b.N, time.Since(start), "events/s")
}

// copyRows writes n events to one stream with COPY, versions after from.
func copyRows(b *testing.B, pool *pgxpool.Pool, stream string, from int64, n int) {
	b.Helper()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = rawRow(stream, from+int64(i)+1)
	}
	if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{"events"}, rawColumns, pgx.CopyFromRows(rows)); err != nil {
		b.Fatalf("copy %d events: %v", n, err)
	}
}
