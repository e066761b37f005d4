package groupcommit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/groupcommit"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/event"
)

// counting records the size of every request the writer sends.
type counting struct {
	eventstore.Store
	mu       sync.Mutex
	requests []int // entries per request
}

func (c *counting) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	c.mu.Lock()
	c.requests = append(c.requests, len(appends))
	c.mu.Unlock()
	return c.Store.AppendMany(ctx, appends)
}

func proposed(label string) eventstore.Proposed {
	return eventstore.Proposed{ID: ulid.Make(), Type: "Noted", SchemaVersion: 1,
		Data: []byte(fmt.Sprintf(`{"by":%q}`, label)), Metadata: event.Metadata{Actor: "groupcommit-test"}}
}

// Many handlers append through one writer, as in `attune serve`: some to streams of their
// own, most racing on a few shared streams the way handlers do (read, decide, append with
// the version read, decide again on a conflict). Every acknowledged event must be in the log
// exactly once, every conflict must reach the caller whose expectation failed, and the
// chains must verify.
func TestConcurrentCallersEachGetTheirOwnVerdictAndEveryEventLandsOnce(t *testing.T) {
	t.Parallel()
	const (
		callers = 16
		appends = 10
		shared  = 3
	)
	schema := pgtest.New(t)
	pg, err := pgstore.New(context.Background(), schema.Pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store := &counting{Store: pg}
	w, err := groupcommit.New(store, groupcommit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		mu        sync.Mutex
		acked     = map[ulid.ULID]string{} // event → stream
		conflicts atomic.Int64
		wg        sync.WaitGroup
	)
	ack := func(stream string, ps ...eventstore.Proposed) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range ps {
			acked[p.ID] = stream
		}
	}
	for c := range callers {
		wg.Go(func() {
			own := fmt.Sprintf("own-%d", c)
			var version int64
			for i := range appends {
				if c%4 == 0 { // a stream of its own: never a conflict
					ps := []eventstore.Proposed{proposed(own)}
					if i%3 == 0 {
						ps = append(ps, proposed(own))
					}
					res, err := w.Append(ctx, own, eventstore.Exact(version), ps...)
					if err != nil {
						t.Errorf("%s: append at version %d: %v", own, version, err)
						return
					}
					if res.NextExpected != version+int64(len(ps)) {
						t.Errorf("%s: NextExpected %d after version %d and %d events", own, res.NextExpected, version, len(ps))
						return
					}
					version = res.NextExpected
					ack(own, ps...)
					continue
				}
				stream := fmt.Sprintf("shared-%d", (c+i)%shared)
				for {
					got, err := w.ReadStream(ctx, stream)
					if err != nil {
						t.Errorf("read %s: %v", stream, err)
						return
					}
					read := int64(len(got))
					p := proposed(fmt.Sprintf("caller-%d", c))
					_, err = w.Append(ctx, stream, eventstore.Exact(read), p)
					var conflict *eventstore.VersionConflictError
					if errors.As(err, &conflict) {
						if conflict.Stream != stream || conflict.Expected != eventstore.Exact(read) || conflict.Actual <= read {
							t.Errorf("caller %d appending to %s at version %d got someone else's conflict: %v", c, stream, read, err)
							return
						}
						conflicts.Add(1)
						continue // decide again
					}
					if err != nil {
						t.Errorf("caller %d: append to %s: %v", c, stream, err)
						return
					}
					ack(stream, p)
					break
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The whole log, read in cursor order, holds exactly the acknowledged events.
	seen := map[ulid.ULID]bool{}
	byStream := map[string][]eventstore.Recorded{}
	deadline := time.Now().Add(15 * time.Second)
	for cursor := eventstore.Start; len(seen) < len(acked); {
		page, err := pg.ReadAll(ctx, cursor, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if seen[r.ID] {
				t.Fatalf("%s@%d stored twice", r.StreamID, r.StreamVersion)
			}
			if acked[r.ID] != r.StreamID {
				t.Fatalf("%s@%d (%s) in the log but never acknowledged to a caller for that stream", r.StreamID, r.StreamVersion, r.Data)
			}
			seen[r.ID] = true
			byStream[r.StreamID] = append(byStream[r.StreamID], r)
			cursor = r.Position
		}
		if len(page) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the log shows %d of %d acknowledged events", len(seen), len(acked))
			}
			time.Sleep(5 * time.Millisecond) // poll: visibility may wait for other transactions
		}
	}
	for stream, events := range byStream {
		var prev []byte
		for i, r := range events {
			if r.StreamVersion != int64(i+1) || !bytes.Equal(r.PrevHash, prev) || !bytes.Equal(r.Hash, eventstore.Chain(prev, r)) {
				t.Fatalf("%s@%d breaks the chain (or a version repeats or is missing)", stream, r.StreamVersion)
			}
			prev = r.Hash
		}
	}
	store.mu.Lock()
	requests, most := len(store.requests), 0
	for _, n := range store.requests {
		most = max(most, n)
	}
	store.mu.Unlock()
	// The scenario must really have gathered appends and raced them, or it proved nothing.
	if most < 2 || conflicts.Load() == 0 {
		t.Fatalf("largest request %d appends, %d conflicts: nothing was gathered or raced", most, conflicts.Load())
	}
	t.Logf("%d events, %d requests (largest %d appends), %d conflicts decided again", len(acked), requests, most, conflicts.Load())
}

// An outage fails the appends through the writer the way it fails a direct append: as a
// transient error, which the bus retries rather than poisons.
func TestAnAppendThroughTheWriterDuringAnOutageIsTransient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	pool, err := postgres.Connect(ctx, c.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	pg, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := groupcommit.New(pg, groupcommit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(ctx, "before-1", eventstore.NoStream, proposed("before")); err != nil {
		t.Fatal(err)
	}
	c.Kill()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = w.Append(ctx, fmt.Sprintf("during-%d", i), eventstore.NoStream, proposed("during"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || !pgstore.IsTransient(err) {
			t.Errorf("append %d during the outage: %v, want a transient error", i, err)
		}
	}
	// Back up: nothing of the failed appends was written, and the writer works again.
	c.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := w.Append(ctx, "after-1", eventstore.NoStream, proposed("after"))
		if err == nil {
			break
		}
		if !pgstore.IsTransient(err) || time.Now().After(deadline) {
			t.Fatalf("append after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // poll with a deadline while the pool reconnects
	}
	for i := range errs {
		if got, err := w.ReadStream(ctx, fmt.Sprintf("during-%d", i)); err != nil || len(got) != 0 {
			t.Errorf("during-%d after the restart: %d events (%v), want none", i, len(got), err)
		}
	}
}
