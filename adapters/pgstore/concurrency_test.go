package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/groupcommit"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// The proof behind the transaction-id cursor: many writers commit out of order — some hold
// their transaction open for up to 200 ms, so later transactions commit first — while one
// live subscriber reads. It must see every acknowledged event exactly once, positions strictly
// increasing, and each stream's versions in order.
func TestConcurrentWritersSubscriberSeesEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	noSkip(t, func(s *pgstore.Store, _ int) eventstore.Store { return s })
}

// The same proof with group commit: writers in four processes (a writer each, two handlers
// per writer), so that requests of many streams, each one transaction, commit out of order.
func TestConcurrentBatchedWritersSubscriberSeesEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	const processes = 4
	var (
		once    sync.Once
		writers [processes]*groupcommit.Writer
	)
	noSkip(t, func(s *pgstore.Store, w int) eventstore.Store {
		once.Do(func() {
			for i := range writers {
				gw, err := groupcommit.New(s, groupcommit.Config{})
				if err != nil {
					t.Fatal(err)
				}
				writers[i] = gw
			}
		})
		return writers[w%processes]
	})
}

// noSkip runs the proof with each writer appending through via(store, writer).
func noSkip(t *testing.T, via func(s *pgstore.Store, writer int) eventstore.Store) {
	const (
		writers       = 8
		sharedStreams = 3
		runFor        = 4 * time.Second
	)
	schema := pgtest.New(t)
	var (
		slow      atomic.Int64 // transactions held open
		overtaken atomic.Int64 // ... while another writer's append committed: late commits
		ackCount  atomic.Int64
	)
	cfg := pgstore.WithBeforeCommit(pgstore.Config{BatchSize: 50}, func(ctx context.Context) error {
		if rand.IntN(10) > 0 {
			return nil
		}
		slow.Add(1)
		before := ackCount.Load()
		select { // a slow transaction, not a wait for async work
		case <-time.After(time.Duration(50+rand.IntN(150)) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if ackCount.Load() > before {
			overtaken.Add(1)
		}
		return nil
	})
	s := newStore(t, bigPool(t, schema, writers+4), cfg)

	// The subscriber runs from the start, concurrently with the writers.
	var (
		subMu     sync.Mutex
		delivered []eventstore.Recorded
		subErr    = make(chan error, 1)
	)
	subCtx, stopSub := context.WithCancel(context.Background())
	defer stopSub()
	batches := 0
	go func() {
		subErr <- s.Subscribe(subCtx, eventstore.Start, func(_ context.Context, batch []eventstore.Recorded) error {
			subMu.Lock()
			defer subMu.Unlock()
			batches++
			delivered = append(delivered, batch...)
			return nil
		})
	}()

	var (
		ackMu sync.Mutex
		acked = map[ulid.ULID]bool{}
	)
	deadline := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for w := range writers {
		appender := via(s, w)
		wg.Go(func() {
			own := fmt.Sprintf("writer-%d", w)
			var ownVersion int64
			for i := 0; time.Now().Before(deadline); i++ {
				batch := make([]eventstore.Proposed, 1+rand.IntN(3)*rand.IntN(2)) // mostly single events
				for j := range batch {
					batch[j] = proposed(fmt.Sprintf("W%dI%dE%d", w, i, j))
				}
				var err error
				if i%2 == 0 { // own stream, optimistic concurrency
					var res eventstore.AppendResult
					res, err = appender.Append(context.Background(), own, eventstore.Exact(ownVersion), batch...)
					ownVersion = res.NextExpected
				} else { // shared streams, contended
					_, err = appender.Append(context.Background(), fmt.Sprintf("shared-%d", rand.IntN(sharedStreams)), eventstore.Any, batch...)
				}
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
				ackMu.Lock()
				for _, p := range batch {
					acked[p.ID] = true
				}
				ackMu.Unlock()
				ackCount.Add(1)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Wait until the subscriber has caught up with every acknowledged event.
	waitUntil := time.Now().Add(waitLimit)
	for {
		subMu.Lock()
		n := len(delivered)
		subMu.Unlock()
		if n >= len(acked) {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("subscriber saw %d of %d acknowledged events after %s", n, len(acked), waitLimit)
		}
		time.Sleep(10 * time.Millisecond) // poll with a deadline
	}
	stopSub()
	if err := <-subErr; err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	seen := map[ulid.ULID]bool{}
	versions := map[string]int64{}
	var last eventstore.Position
	for i, r := range delivered {
		if seen[r.ID] {
			t.Fatalf("event %s (%s@%d) delivered twice", r.ID, r.StreamID, r.StreamVersion)
		}
		seen[r.ID] = true
		if !acked[r.ID] {
			t.Fatalf("event %s (%s@%d) delivered but never acknowledged", r.ID, r.StreamID, r.StreamVersion)
		}
		if i > 0 && !last.Less(r.Position) {
			t.Fatalf("position %s delivered after %s", r.Position, last)
		}
		last = r.Position
		if r.StreamVersion != versions[r.StreamID]+1 {
			t.Fatalf("%s: version %d delivered after %d", r.StreamID, r.StreamVersion, versions[r.StreamID])
		}
		versions[r.StreamID] = r.StreamVersion
	}
	if len(seen) != len(acked) {
		t.Fatalf("subscriber saw %d distinct events, writers were acknowledged %d", len(seen), len(acked))
	}
	// The scenario must really have produced late commits, or it proved nothing.
	if overtaken.Load() == 0 {
		t.Fatalf("no late commit happened (%d slow transactions, none overtaken): the scenario proved nothing", slow.Load())
	}
	t.Logf("%d events in %d subscriber batches by %d writers; %d slow transactions, %d of them overtaken by later commits",
		len(delivered), batches, writers, slow.Load(), overtaken.Load())
}
