package relay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

const (
	batchSize = 50 // small, so a test spans many batches and checkpoints
	waitLong  = 60 * time.Second
)

// env is one combination of event store and bus the relay runs on.
type env struct {
	store       eventstore.Store
	checkpoints checkpoint.Store
	bus         *bus.Bus
	// lead runs a relay the way its deployment does: under the Postgres leader lock, or
	// directly on the in-memory store (one process, one relay).
	lead      func(ctx context.Context, fn func(context.Context) error) error
	exclusive bool // whether lead keeps a second relay waiting
}

type storeKind string

const (
	memory        storeKind = "memstore"
	postgresStore storeKind = "pgstore"
)

func setup(t testing.TB, sk storeKind, tr bustest.Transport) *env {
	t.Helper()
	e := &env{bus: bustest.New(t, tr)}
	switch sk {
	case memory:
		e.store = memstore.New(memstore.Config{BatchSize: batchSize})
		e.checkpoints = checkpoint.NewMemory()
		e.lead = func(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
	case postgresStore:
		db := pgtest.New(t)
		s, err := pgstore.New(context.Background(), db.Pool, pgstore.Config{BatchSize: batchSize, Logger: bustest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		e.store = s
		e.checkpoints = checkpoint.NewPostgres(db.Pool)
		e.lead = func(ctx context.Context, fn func(context.Context) error) error {
			return postgres.Lead(ctx, db.Pool, relay.Name, fn)
		}
		e.exclusive = true
	}
	return e
}

// matrix runs a test on every store and transport.
func matrix(t *testing.T, test func(t *testing.T, e *env)) {
	for _, sk := range []storeKind{memory, postgresStore} {
		for _, tr := range bustest.Transports {
			t.Run(string(sk)+"/"+string(tr), func(t *testing.T) {
				t.Parallel()
				test(t, setup(t, sk, tr))
			})
		}
	}
}

func newRelay(t testing.TB, e *env, pub relay.Publisher) *relay.Relay {
	t.Helper()
	return newRelayLanes(t, e, pub, 0)
}

func newRelayLanes(t testing.TB, e *env, pub relay.Publisher, lanes int) *relay.Relay {
	t.Helper()
	r, err := relay.New(relay.Config{
		Store: e.store, Checkpoints: e.checkpoints, Publisher: pub, Logger: bustest.Logger(t),
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Lanes: lanes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// running is a relay started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (e *env) start(t testing.TB, r *relay.Relay) *running {
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- e.lead(ctx, r.Run) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			// A standby cancelled before it led reports the cancellation.
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("relay returned %v, want nil", err)
			}
		case <-time.After(waitLong):
			t.Error("relay did not stop")
		}
	})
}

// appendMixed appends n events over streams: each stream opens with ExecutionRequested and
// goes on with ExecutionScheduled, so the log interleaves two types.
func appendMixed(t testing.TB, s eventstore.Store, prefix string, n int) []eventstore.Recorded {
	t.Helper()
	ctx := context.Background()
	const perStream = 5
	var ids []string
	for i := 0; i < n; i += perStream {
		id := fmt.Sprintf("%s%d", prefix, i/perStream)
		var batch []eventstore.Proposed
		for j := i; j < min(i+perStream, n); j++ {
			var p event.Event = execution.ExecutionScheduled{ExecutionID: id, WorkerID: "w", Runtime: "shell"}
			if j == i {
				p = execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}
			}
			e, err := eventstore.NewProposed(p, event.Metadata{CorrelationID: id})
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, e)
			ids = append(ids, e.ID.String())
		}
		if _, err := s.Append(ctx, execution.StreamID(id), eventstore.NoStream, batch...); err != nil {
			t.Fatal(err)
		}
	}
	// Read back what was appended, for the positions. On Postgres an event shows only once
	// every older transaction of the server has ended (other tests' too): poll.
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(waitLong)
	for {
		all, err := s.ReadAll(ctx, eventstore.Start, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		var out []eventstore.Recorded
		for _, r := range all {
			if want[r.ID.String()] {
				out = append(out, r)
			}
		}
		if len(out) == n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("read back %d of %d appended events", len(out), n)
		}
		time.Sleep(5 * time.Millisecond) // polling a store with a deadline
	}
}

// handlers subscribes one collecting handler per type and starts the router.
func handlers(t *testing.T, b *bus.Bus) *bustest.Collector {
	t.Helper()
	c := bustest.NewCollector()
	r := b.NewRouter()
	r.AddHandler("relaytest.requested", "ExecutionRequested", c.Handler("requested"))
	r.AddHandler("relaytest.scheduled", "ExecutionScheduled", c.Handler("scheduled"))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close router: %v", err)
		}
	})
	return c
}

// delivered reports, per event id, how often any handler got it.
func delivered(c *bustest.Collector) map[string]int {
	out := map[string]int{}
	for _, h := range []string{"requested", "scheduled"} {
		for _, e := range c.Got(h) {
			out[e.ID.String()]++
		}
	}
	return out
}

func waitCheckpoint(t testing.TB, e *env, want eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		got, err := e.checkpoints.Load(context.Background(), relay.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint at %s after %s, want %s", got, waitLong, want)
		}
		time.Sleep(5 * time.Millisecond) // polling a store with a deadline
	}
}

func TestRelayDeliversEachTypeToItsHandlersOnly(t *testing.T) {
	t.Parallel()
	matrix(t, func(t *testing.T, e *env) {
		c := handlers(t, e.bus)
		before := appendMixed(t, e.store, "old", 120) // caught up from the log
		run := e.start(t, newRelay(t, e, e.bus))
		after := appendMixed(t, e.store, "new", 80) // arriving live
		all := append(before, after...)

		wantTypes := map[string]string{}
		for _, r := range all {
			wantTypes[r.ID.String()] = r.Type
		}
		c.WaitUntil(t, waitLong, "every event to reach its handler", func() bool { return len(delivered(c)) == len(all) })
		for h, typ := range map[string]string{"requested": "ExecutionRequested", "scheduled": "ExecutionScheduled"} {
			for _, r := range c.Got(h) {
				if r.Type != typ {
					t.Errorf("handler of %s got a %s (%s)", typ, r.Type, r.ID)
				}
				if wantTypes[r.ID.String()] != typ {
					t.Errorf("handler of %s got event %s that was not appended as one", typ, r.ID)
				}
			}
		}
		waitCheckpoint(t, e, all[len(all)-1].Position)
		run.stop(t)
	})
}

// stallAfter lets n publishes through, then hangs like a relay process that stopped
// answering, until its context is cancelled: the relay is killed mid-stream.
type stallAfter struct {
	pub     relay.Publisher
	n       int64
	count   atomic.Int64
	stalled chan struct{}
	once    sync.Once
}

func (s *stallAfter) Publish(ctx context.Context, events ...eventstore.Recorded) error {
	if s.count.Add(int64(len(events))) > s.n {
		s.once.Do(func() { close(s.stalled) })
		<-ctx.Done()
		return ctx.Err()
	}
	return s.pub.Publish(ctx, events...)
}

func TestRelayKilledMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	matrix(t, func(t *testing.T, e *env) {
		c := handlers(t, e.bus)
		all := appendMixed(t, e.store, "x", 300)

		first := &stallAfter{pub: e.bus, n: 130, stalled: make(chan struct{})}
		a := e.start(t, newRelay(t, e, first))
		select {
		case <-first.stalled:
		case <-time.After(waitLong):
			t.Fatal("the first relay never got 130 events in")
		}
		var b *running
		if e.exclusive {
			// A standby waits on the leader lock and takes over when the leader dies.
			b = e.start(t, newRelay(t, e, e.bus))
			a.stop(t)
		} else {
			a.stop(t)
			b = e.start(t, newRelay(t, e, e.bus))
		}
		all = append(all, appendMixed(t, e.store, "y", 100)...)

		c.WaitUntil(t, waitLong, "every event to be delivered after the restart", func() bool {
			return len(delivered(c)) == len(all)
		})
		waitCheckpoint(t, e, all[len(all)-1].Position)
		b.stop(t)

		got := delivered(c)
		duplicates := 0
		for _, r := range all {
			switch n := got[r.ID.String()]; {
			case n == 0:
				t.Errorf("event %s (%s) was never delivered", r.ID, r.Type)
			case n > 1:
				duplicates += n - 1
			}
		}
		if len(got) != len(all) {
			t.Errorf("handlers got %d distinct events, want %d", len(got), len(all))
		}
		t.Logf("%d events, %d delivered twice after the restart", len(all), duplicates)
		// Only the batch in flight when the relay died is published again: the checkpoint
		// moved after every confirmed batch.
		if duplicates > batchSize {
			t.Errorf("%d duplicates, want at most one batch (%d)", duplicates, batchSize)
		}
	})
}

// flaky fails every third publish, as a broker that drops connections would.
type flaky struct {
	pub   relay.Publisher
	calls atomic.Int64
}

func (f *flaky) Publish(ctx context.Context, events ...eventstore.Recorded) error {
	if f.calls.Add(1)%3 == 0 {
		return errors.New("connection reset by peer")
	}
	return f.pub.Publish(ctx, events...)
}

func TestRelayRetriesFailedPublishesAndSkipsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, memory, bustest.InProcess)
	c := handlers(t, e.bus)
	all := appendMixed(t, e.store, "x", 200)
	pub := &flaky{pub: e.bus}
	run := e.start(t, newRelay(t, e, pub))

	c.WaitUntil(t, waitLong, "every event despite failing publishes", func() bool { return len(delivered(c)) == len(all) })
	waitCheckpoint(t, e, all[len(all)-1].Position)
	run.stop(t)
	// A lane's events go in one Publish: 200 events in batches of 50 make ~30 calls.
	if failures := pub.calls.Load() / 3; failures < 10 {
		t.Fatalf("only %d publishes failed; the test did not exercise retries", failures)
	}
	for id, n := range delivered(c) {
		if n != 1 {
			t.Errorf("event %s delivered %d times; a failed publish that reached nobody must not duplicate", id, n)
		}
	}
}

func TestNewRejectsMissingDependencies(t *testing.T) {
	t.Parallel()
	_, err := relay.New(relay.Config{Lanes: -1})
	if err == nil {
		t.Fatal("relay.New with nothing configured succeeded")
	}
	for _, want := range []string{"no event store", "no checkpoint store", "no publisher", "lanes -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// BenchmarkRelay measures events relayed per second from the in-memory log — published,
// confirmed and checkpointed — with a durable queue per type bound (so RabbitMQ persists
// before it confirms), for one lane and for the default eight. In process "confirmed" means
// handled, so there it measures the handlers too.
func BenchmarkRelay(b *testing.B) {
	for _, tr := range bustest.Transports {
		for _, lanes := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/lanes=%d", tr, lanes), func(b *testing.B) {
				e := setup(b, memory, tr)
				noop := func(context.Context, eventstore.Recorded) error { return nil }
				r := e.bus.NewRouter()
				r.AddHandler("bench.requested", "ExecutionRequested", noop)
				r.AddHandler("bench.scheduled", "ExecutionScheduled", noop)
				if err := r.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				all := appendMixed(b, e.store, "x", b.N)

				b.ResetTimer()
				run := e.start(b, newRelayLanes(b, e, e.bus, lanes))
				waitCheckpoint(b, e, all[len(all)-1].Position)
				b.StopTimer()
				run.stop(b)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
