package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
)

const waitLimit = 10 * time.Second

// gate is a store whose AppendMany records each request and, while held, waits for release
// (or the request's context) before passing it on: it keeps a request in flight so that the
// tests can queue the next one behind it.
type gate struct {
	eventstore.Store
	mu       sync.Mutex
	requests [][]eventstore.StreamAppend
	held     chan struct{} // closed: requests pass; nil: never held
	entered  chan struct{} // receives once per request, before it waits
	fail     error         // returned for the whole request when set (read once it passes)
}

func newGate(held bool) *gate {
	g := &gate{Store: memstore.New(memstore.Config{}), entered: make(chan struct{}, 1000)}
	if held {
		g.held = make(chan struct{})
	}
	return g
}

func (g *gate) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	g.mu.Lock()
	g.requests = append(g.requests, appends)
	held := g.held
	g.mu.Unlock()
	g.entered <- struct{}{}
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return nil, fmt.Errorf("append to %d streams: %w", len(appends), ctx.Err())
		}
	}
	g.mu.Lock()
	fail := g.fail
	g.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return g.Store.AppendMany(ctx, appends)
}

func (g *gate) release() { close(g.held) }

// holdNext makes the requests that enter from now on wait for a new gate, and returns the old
// one (which the requests already waiting on it still wait for).
func (g *gate) holdNext() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.held
	g.held = make(chan struct{})
	return old
}

func (g *gate) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]int, len(g.requests))
	for i, r := range g.requests {
		for _, a := range r {
			out[i] += len(a.Events)
		}
	}
	return out
}

func (g *gate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(waitLimit):
		t.Fatalf("no request reached the store within %s", waitLimit)
	}
}

func setup(t *testing.T, held bool, cfg Config) (*Writer, *gate) {
	t.Helper()
	g := newGate(held)
	w, err := New(g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w, g
}

// waitQueued waits until n appends are queued behind the request in flight.
func waitQueued(t *testing.T, w *Writer, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		w.mu.Lock()
		got := len(w.queue)
		w.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued after %s, want %d", got, waitLimit, n)
		}
		time.Sleep(time.Millisecond) // poll with a deadline
	}
}

func events(n int) []eventstore.Proposed {
	out := make([]eventstore.Proposed, n)
	for i := range out {
		out[i] = eventstore.Proposed{ID: ulid.Make(), Type: "Noted", SchemaVersion: 1, Data: []byte(`{}`), Metadata: event.Metadata{Actor: "test"}}
	}
	return out
}

type outcome struct {
	res eventstore.AppendResult
	err error
}

// appendAsync runs one Append in the background.
func appendAsync(ctx context.Context, w *Writer, stream string, expected eventstore.Expected, n int) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		res, err := w.Append(ctx, stream, expected, events(n)...)
		done <- outcome{res, err}
	}()
	return done
}

func await(t *testing.T, done <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(waitLimit):
		t.Fatalf("append did not return within %s", waitLimit)
		return outcome{}
	}
}

func TestALoneAppendIsSentAtOnceAndAlone(t *testing.T) {
	t.Parallel()
	w, g := setup(t, false, Config{})
	res, err := w.Append(context.Background(), "alone-1", eventstore.NoStream, events(2)...)
	if err != nil || res.NextExpected != 2 {
		t.Fatalf("append: %+v, %v", res, err)
	}
	if sizes := g.sizes(); len(sizes) != 1 || sizes[0] != 2 {
		t.Fatalf("requests %v, want one of 2 events", sizes)
	}
}

// The appends that arrive while a request is in flight all go in the next one, each with its
// own verdict: its version, or its own conflict.
func TestAppendsQueuedBehindARequestGoTogetherEachWithItsVerdict(t *testing.T) {
	t.Parallel()
	w, g := setup(t, true, Config{})
	ctx := context.Background()
	first := appendAsync(ctx, w, "first", eventstore.NoStream, 1)
	g.waitEntered(t)
	const streams = 10
	var done []<-chan outcome
	for i := range streams {
		done = append(done, appendAsync(ctx, w, fmt.Sprintf("s-%d", i), eventstore.NoStream, 1))
	}
	// Two callers that read the same version of one stream: the first queued wins.
	waitQueued(t, w, streams)
	win := appendAsync(ctx, w, "s-0", eventstore.Exact(1), 1)
	waitQueued(t, w, streams+1)
	lose := appendAsync(ctx, w, "s-0", eventstore.Exact(1), 1)
	waitQueued(t, w, streams+2)
	g.release()

	if o := await(t, first); o.err != nil {
		t.Fatal(o.err)
	}
	for i, d := range done {
		if o := await(t, d); o.err != nil || o.res.NextExpected != 1 {
			t.Errorf("append %d: %+v %v", i, o.res, o.err)
		}
	}
	if o := await(t, win); o.err != nil || o.res.NextExpected != 2 {
		t.Errorf("winner: %+v %v", o.res, o.err)
	}
	o := await(t, lose)
	var conflict *eventstore.VersionConflictError
	if !errors.As(o.err, &conflict) || conflict.Stream != "s-0" || conflict.Actual != 2 {
		t.Errorf("loser: %v, want its own conflict on s-0 at version 2", o.err)
	}
	if sizes := g.sizes(); len(sizes) != 2 || sizes[1] != streams+2 {
		t.Fatalf("requests of %v events, want 1 then %d", sizes, streams+2)
	}
}

func TestARequestHoldsAtMostMaxEventsAndABigAppendGoesAlone(t *testing.T) {
	t.Parallel()
	w, g := setup(t, true, Config{MaxEvents: 4})
	ctx := context.Background()
	var done []<-chan outcome
	done = append(done, appendAsync(ctx, w, "first", eventstore.NoStream, 1))
	g.waitEntered(t)
	for i, n := range []int{1, 2, 1, 6, 3, 1} {
		done = append(done, appendAsync(ctx, w, fmt.Sprintf("s-%d", i), eventstore.NoStream, n))
		waitQueued(t, w, i+1)
	}
	g.release()
	for _, d := range done {
		if o := await(t, d); o.err != nil {
			t.Fatal(o.err)
		}
	}
	if got, want := fmt.Sprint(g.sizes()), "[1 4 6 4]"; got != want {
		t.Fatalf("requests of %s events, want %s", got, want)
	}
}

// A caller that gives up while its append waits in the queue takes it back: nothing of it
// is written, and the others are not disturbed.
func TestACallerThatGivesUpWhileQueuedWithdrawsItsAppend(t *testing.T) {
	t.Parallel()
	w, g := setup(t, true, Config{})
	first := appendAsync(context.Background(), w, "first", eventstore.NoStream, 1)
	g.waitEntered(t)
	ctx, cancel := context.WithCancel(context.Background())
	gone := appendAsync(ctx, w, "gone", eventstore.NoStream, 1)
	waitQueued(t, w, 1)
	stays := appendAsync(context.Background(), w, "stays", eventstore.NoStream, 1)
	waitQueued(t, w, 2)
	cancel()
	if o := await(t, gone); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("cancelled append: %v, want context.Canceled", o.err)
	}
	waitQueued(t, w, 1)
	g.release()
	for _, d := range []<-chan outcome{first, stays} {
		if o := await(t, d); o.err != nil {
			t.Fatal(o.err)
		}
	}
	got, err := w.ReadStream(context.Background(), "gone")
	if err != nil || len(got) != 0 {
		t.Fatalf("the withdrawn append wrote %d events (%v)", len(got), err)
	}
}

// One caller giving up on a request in flight returns at once and does not cut short the
// others' commit; the request's context ends only when all of them have given up.
func TestACallerThatGivesUpInFlightLeavesTheRequestToTheOthers(t *testing.T) {
	t.Parallel()
	w, g := setup(t, true, Config{})
	first := appendAsync(context.Background(), w, "first", eventstore.NoStream, 1)
	g.waitEntered(t)
	ctxA, cancelA := context.WithCancel(context.Background())
	a := appendAsync(ctxA, w, "a", eventstore.NoStream, 1)
	waitQueued(t, w, 1)
	b := appendAsync(context.Background(), w, "b", eventstore.NoStream, 1)
	waitQueued(t, w, 2)
	close(g.holdNext()) // let the first request through, hold the next
	if o := await(t, first); o.err != nil {
		t.Fatal(o.err)
	}
	g.waitEntered(t) // a and b are in flight together
	cancelA()
	if o := await(t, a); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("a: %v, want context.Canceled", o.err)
	}
	close(g.holdNext())
	if o := await(t, b); o.err != nil || o.res.NextExpected != 1 {
		t.Fatalf("b after a gave up: %+v %v, want written", o.res, o.err)
	}

	// When every caller of a request gives up, the request's context ends.
	g.holdNext() // never released
	ctxC, cancelC := context.WithCancel(context.Background())
	c := appendAsync(ctxC, w, "c", eventstore.NoStream, 1)
	g.waitEntered(t)
	cancelC()
	if o := await(t, c); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("c: %v, want context.Canceled", o.err)
	}
	// The request returned (its context ended) and the writer is idle again: a new append
	// gets a request of its own, which fails at the held gate only through its own context.
	ctxD, cancelD := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelD()
	if o := await(t, appendAsync(ctxD, w, "d", eventstore.NoStream, 1)); !errors.Is(o.err, context.DeadlineExceeded) {
		t.Fatalf("d: %v, want its own deadline", o.err)
	}
}

func TestAFailedRequestFailsEachOfItsCallersWithTheStoresError(t *testing.T) {
	t.Parallel()
	w, g := setup(t, true, Config{})
	unavailable := errors.New("database unavailable")
	first := appendAsync(context.Background(), w, "first", eventstore.NoStream, 1)
	g.waitEntered(t)
	var done []<-chan outcome
	for i := range 3 {
		done = append(done, appendAsync(context.Background(), w, fmt.Sprintf("s-%d", i), eventstore.NoStream, 1))
		waitQueued(t, w, i+1)
	}
	g.mu.Lock()
	g.fail = unavailable
	g.mu.Unlock()
	g.release()
	for _, d := range append(done, first) {
		if o := await(t, d); !errors.Is(o.err, unavailable) {
			t.Fatalf("append in a failed request: %v, want the store's error", o.err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := New(memstore.New(memstore.Config{}), Config{MaxEvents: -1}); err == nil {
		t.Fatal("New accepted MaxEvents -1")
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New accepted a nil store")
	}
}
