package heartbeat_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/heartbeat"
)

// counting counts the reads that reach the table.
type counting struct {
	heartbeat.Lister
	reads atomic.Int32
}

func (c *counting) Live(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error) {
	c.reads.Add(1)
	return c.Lister.Live(ctx, ttl)
}

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCacheReadsTheTableOncePerBurstAndRefreshFindsNewcomers(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	beat(t, s, heartbeat.Worker{ID: "w1", Runtimes: []string{"shell"}, MaxConcurrency: 1})
	src := &counting{Lister: s}
	clk := &clock{now: time.Unix(0, 0)}
	c := heartbeat.NewCache(src, 100*time.Millisecond, clk.Now)

	// A burst of placements: one read between them all.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			live, err := c.Live(ctx, time.Hour)
			if err != nil || !slices.Equal(ids(live), []string{"w1"}) {
				t.Errorf("Live = %v, %v; want w1", ids(live), err)
			}
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("%d reads of the table for a burst of 20, want 1", n)
	}
	// Each caller has its own slice.
	live, _ := c.Live(ctx, time.Hour)
	live[0].ID = "scribbled"

	// A worker registers: within the age, Live still answers from the copy…
	beat(t, s, heartbeat.Worker{ID: "w2", Runtimes: []string{"shell"}, MaxConcurrency: 1})
	if live, _ := c.Live(ctx, time.Hour); !slices.Equal(ids(live), []string{"w1"}) {
		t.Fatalf("Live within the age = %v, want the copy [w1]", ids(live))
	}
	// …and Refresh (the scheduler's call when no worker fits) finds it now, for Live too.
	if live, err := c.Refresh(ctx, time.Hour); err != nil || !slices.Equal(ids(live), []string{"w1", "w2"}) {
		t.Fatalf("Refresh = %v, %v; want [w1 w2]", ids(live), err)
	}
	if live, _ := c.Live(ctx, time.Hour); !slices.Equal(ids(live), []string{"w1", "w2"}) {
		t.Fatalf("Live after Refresh = %v, want [w1 w2]", ids(live))
	}
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2 (the burst's, the refresh)", n)
	}
	// Past the age, Live reads again.
	clk.advance(100 * time.Millisecond)
	if _, err := c.Live(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := src.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want 3 once the copy is 100ms old", n)
	}
}

// failing fails every read.
type failing struct{ err error }

func (f failing) Live(context.Context, time.Duration) ([]heartbeat.Worker, error) { return nil, f.err }

func TestCacheKeepsNoFailure(t *testing.T) {
	t.Parallel()
	src := &counting{Lister: failing{err: context.DeadlineExceeded}}
	c := heartbeat.NewCache(src, time.Hour, nil)
	for range 2 {
		if _, err := c.Live(context.Background(), time.Second); err == nil {
			t.Fatal("Live succeeded over a failing table")
		}
	}
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2: a failed read is not an answer to keep", n)
	}
}
