package groupcommit_test

// Group commit against plain appends, with the handlers' pattern (one event per append, to a
// stream of one's own, with its expected version) and serve's pool of 8 connections. Run:
// go test -run '^$' -bench . ./adapters/groupcommit/

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/groupcommit"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

const benchPool = 8 // `attune serve`'s default pool

func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 8, 32} {
		for _, via := range []string{"direct", "groupcommit"} {
			b.Run(fmt.Sprintf("%s/%d-writers", via, writers), func(b *testing.B) {
				benchmarkAppend(b, via, writers)
			})
		}
	}
}

func benchmarkAppend(b *testing.B, via string, writers int) {
	schema := pgtest.New(b)
	pool, err := postgres.Connect(context.Background(), pgtest.WithPoolSize(schema.URL, benchPool), schema.Name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	pg, err := pgstore.New(context.Background(), pool, pgstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	requests := &counting{Store: pg}
	var store eventstore.Store = requests
	if via == "groupcommit" {
		if store, err = groupcommit.New(requests, groupcommit.Config{}); err != nil {
			b.Fatal(err)
		}
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("bench-%d", w)
			var version int64
			for next.Add(1) <= int64(b.N) {
				res, err := store.Append(context.Background(), stream, eventstore.Exact(version), proposed(stream))
				if err != nil {
					b.Error(err)
					return
				}
				version = res.NextExpected
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	requests.mu.Lock()
	if n := len(requests.requests); n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "appends/commit")
	} else {
		b.ReportMetric(1, "appends/commit") // direct: every Append is its own commit
	}
	requests.mu.Unlock()
}
