// Package handlertest tests handlers Given/When/Then on an in-memory log:
//
//	fx := handlertest.New(t)
//	h := canceler.New(fx.Store())
//	fx.Given(worker.StreamID("w1"), registered, deregistered)
//	rec := fx.Given(execution.StreamID("e1"), requested, scheduled, running, canceling)
//	fx.WhenRedelivered(h.Handle, rec[3])   // each event twice, all shuffled
//	fx.Then(`ExecutionStatusChanged execution=e1 from=canceling to=abandoned reason="…" worker=w1`)
//
// Given writes the log as it stands when the message arrives (the delivered event is in it:
// the bus only carries logged events). When hands recorded events to the handler, as the
// router would. Then compares everything the handler appended with a script of Summary
// lines, and checks that each appended event names a delivered event as its cause.
package handlertest

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
)

// now is the fixture's clock: every event it records is stamped with it.
func now() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// Fixture is one Given/When/Then scenario.
type Fixture struct {
	t         testing.TB
	store     *memstore.Store
	given     eventstore.Position // end of the log Given wrote
	delivered map[string]bool     // ids of the events handed to the handler
	whenDone  bool
	seed      uint64
}

// New returns an empty scenario. Shuffles use ATTUNE_TEST_SEED when set, else a random seed
// that a failing test prints.
func New(t testing.TB) *Fixture {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("ATTUNE_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("handlertest: ATTUNE_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	f := &Fixture{
		t:         t,
		store:     memstore.New(memstore.Config{Now: now}),
		delivered: map[string]bool{},
		seed:      seed,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handlertest: deliveries shuffled with ATTUNE_TEST_SEED=%d", seed)
		}
	})
	return f
}

// Now is the fixture's fixed clock, which stamps every recorded event: inject it into a
// handler that reads the time, so its decisions are reproducible.
func (f *Fixture) Now() time.Time { return now() }

// Store is the log the handler under test reads and appends to.
func (f *Fixture) Store() *memstore.Store { return f.store }

// Given appends events to a stream, as history that the handler finds in the log, and
// returns them as recorded, ready to be delivered.
func (f *Fixture) Given(stream string, events ...event.Event) []eventstore.Recorded {
	f.t.Helper()
	if f.whenDone {
		f.t.Fatalf("handlertest: Given after When; the log must be written before delivery")
	}
	ctx := context.Background()
	proposed := make([]eventstore.Proposed, len(events))
	for i, e := range events {
		p, err := eventstore.NewProposed(e, event.Metadata{CorrelationID: "given", Actor: "handlertest"})
		if err != nil {
			f.t.Fatalf("handlertest: Given %s: %v", stream, err)
		}
		proposed[i] = p
	}
	before, err := f.store.ReadStream(ctx, stream)
	if err != nil {
		f.t.Fatalf("handlertest: %v", err)
	}
	if _, err := f.store.Append(ctx, stream, eventstore.Any, proposed...); err != nil {
		f.t.Fatalf("handlertest: Given %s: %v", stream, err)
	}
	all, err := f.store.ReadStream(ctx, stream)
	if err != nil {
		f.t.Fatalf("handlertest: %v", err)
	}
	recorded := all[len(before):]
	f.given = recorded[len(recorded)-1].Position
	return recorded
}

// Deliver hands one event to the handler and returns its error, for tests of failures.
func (f *Fixture) Deliver(h bus.HandlerFunc, e eventstore.Recorded) error {
	f.whenDone = true
	f.delivered[e.ID.String()] = true
	return h(f.t.Context(), e)
}

// When delivers each event once, in order, and fails the test if the handler fails.
func (f *Fixture) When(h bus.HandlerFunc, events ...eventstore.Recorded) {
	f.t.Helper()
	for i, e := range events {
		if err := f.Deliver(h, e); err != nil {
			f.t.Fatalf("handlertest: handler failed on delivery %d (%s %s): %v", i+1, e.Type, e.ID, err)
		}
	}
}

// WhenRedelivered delivers each event twice, all in a shuffled order, as the bus may: an
// idempotent handler ends with exactly what one delivery of each would have appended.
func (f *Fixture) WhenRedelivered(h bus.HandlerFunc, events ...eventstore.Recorded) {
	f.t.Helper()
	deliveries := append(append([]eventstore.Recorded(nil), events...), events...)
	rand.New(rand.NewPCG(f.seed, f.seed)).Shuffle(len(deliveries), func(i, j int) {
		deliveries[i], deliveries[j] = deliveries[j], deliveries[i]
	})
	f.When(h, deliveries...)
}

// Appended returns what the handler appended, in log order.
func (f *Fixture) Appended() []eventstore.Recorded {
	f.t.Helper()
	events, err := f.store.ReadAll(context.Background(), f.given, 1_000_000)
	if err != nil {
		f.t.Fatalf("handlertest: read what was appended: %v", err)
	}
	return events
}

// Then checks that the handler appended exactly the events of the script (one Summary per
// line; blank lines and surrounding spaces ignored; "" means nothing), and that each names
// a delivered event as its cause.
func (f *Fixture) Then(want string) {
	f.t.Helper()
	f.then(want, false)
}

// ThenInAnyOrder is Then for deliveries whose order decides the order of what is appended
// (WhenRedelivered of several events): the script's lines are compared as a multiset.
func (f *Fixture) ThenInAnyOrder(want string) {
	f.t.Helper()
	f.then(want, true)
}

func (f *Fixture) then(want string, anyOrder bool) {
	f.t.Helper()
	appended := f.Appended()
	got, wantLines := lines(Script(appended)), lines(want)
	if anyOrder {
		slices.Sort(got)
		slices.Sort(wantLines)
	}
	if !slices.Equal(got, wantLines) {
		f.t.Errorf("handler appended:\n%s\nwant:\n%s", indent(got), indent(wantLines))
	}
	for _, e := range appended {
		if !f.delivered[e.Metadata.CausationID] {
			f.t.Errorf("appended %s with causation %q, want the id of the delivered event (metadata.Caused)",
				Summary(e), e.Metadata.CausationID)
		}
	}
}

func lines(script string) []string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "\t(nothing)"
	}
	return "\t" + strings.Join(lines, "\n\t")
}
