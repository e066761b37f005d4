package enforce_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/adapters/sensor"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/handlers/enforce"
	"github.com/attune-go/attune/handlers/packs"
	"github.com/attune-go/attune/handlers/rulematch"
	"github.com/attune-go/attune/projections/registry"
)

// twice publishes every event two times: the bus's at-least-once delivery, at its worst.
type twice struct{ b *bus.Bus }

func (p twice) Publish(ctx context.Context, events ...eventstore.Recorded) error {
	if err := p.b.Publish(ctx, events...); err != nil {
		return err
	}
	return p.b.Publish(ctx, events...)
}

// handled counts the deliveries each handler finished without error, by event id.
type handled struct {
	mu   sync.Mutex
	done map[string]map[string]int // handler → event id → completions
}

func (h *handled) wrap(name string, fn bus.HandlerFunc) bus.HandlerFunc {
	return func(ctx context.Context, e eventstore.Recorded) error {
		if err := fn(ctx, e); err != nil {
			return err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.done[name] == nil {
			h.done[name] = map[string]int{}
		}
		h.done[name][e.ID.String()]++
		return nil
	}
}

// atLeast reports whether the handler finished every one of the events at least n times.
func (h *handled) atLeast(name string, ids []string, n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if h.done[name][id] < n {
			return false
		}
	}
	return true
}

func TestThePipelineOnTheRealBusCreatesNoDuplicateWhenEveryMessageComesTwice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		store string
		tr    bustest.Transport
	}{
		{"memstore", bustest.InProcess},
		{"pgstore", bustest.InProcess},
		{"pgstore", bustest.RabbitMQ},
	} {
		t.Run(tc.store+"/"+string(tc.tr), func(t *testing.T) {
			t.Parallel()
			pipeline(t, tc.store, tc.tr)
		})
	}
}

func pipeline(t *testing.T, storeKind string, tr bustest.Transport) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	var base eventstore.Store
	var cps checkpoint.Store
	switch storeKind {
	case "memstore":
		base, cps = memstore.New(memstore.Config{BatchSize: 7}), checkpoint.NewMemory()
	case "pgstore":
		db := pgtest.New(t)
		s, err := pgstore.New(ctx, db.Pool, pgstore.Config{BatchSize: 7, Logger: bustest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		base, cps = s, checkpoint.NewPostgres(db.Pool)
	}
	// The server appends through the schema guard: every event the pipeline writes must
	// satisfy its JSON Schema.
	validator, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	store := eventschema.Guard(base, validator)
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}

	reg := registry.New(registry.Config{Logger: bustest.Logger(t)})
	follow := make(chan error, 1)
	go func() { follow <- reg.Follow(ctx, store) }()

	b := bustest.New(t, tr)
	counts := &handled{done: map[string]map[string]int{}}
	router := b.NewRouter()
	router.AddHandler(rulematch.Name, trigger.EventFired{}.EventType(),
		counts.wrap(rulematch.Name, rulematch.New(rulematch.Config{Log: store, Catalog: reg, Box: box}).Handle))
	router.AddHandler(enforce.Name, enforcement.EnforcementCreated{}.EventType(),
		counts.wrap(enforce.Name, enforce.New(enforce.Config{Log: store, Catalog: reg, Box: box}).Handle))
	if err := router.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{Store: store, Checkpoints: cps, Publisher: twice{b}, Logger: bustest.Logger(t),
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	relayed := make(chan error, 1)
	go func() { relayed <- rl.Run(ctx) }()
	t.Cleanup(func() {
		cancel() // the relay first, then the routers: the in-process bus wants that order
		if err := <-relayed; err != nil {
			t.Errorf("relay: %v", err)
		}
		if err := router.Close(); err != nil {
			t.Errorf("close router: %v", err)
		}
		if err := <-follow; err != nil {
			t.Errorf("registry: %v", err)
		}
	})

	if _, err := packs.RegisterCore(ctx, store); err != nil {
		t.Fatal(err)
	}
	if _, err := packs.Register(ctx, store, examples(), "test"); err != nil {
		t.Fatal(err)
	}
	const events = 12 // each matched by the pack's three rules
	var fired []string
	for i := range events {
		ev := trigger.EventFired{
			EventID: ulid.Make().String(), Trigger: "examples.ping", Source: trigger.Webhook,
			Payload: raw(fmt.Sprintf(`{"msg": "disk %d", "token": "t%d"}`, i, i)),
		}
		if err := sensor.Fire(ctx, store, ev, "test"); err != nil {
			t.Fatal(err)
		}
		fired = append(fired, ev.EventID)
	}

	// Wait until both handlers have finished every event of theirs twice: then every
	// duplicate delivery has been tried.
	deadline := time.Now().Add(60 * time.Second)
	var log []eventstore.Recorded
	for {
		log = readAll(t, base)
		byType := idsByType(log)
		if len(byType["EventFired"]) == events && len(byType["EnforcementCreated"]) >= 3*events &&
			counts.atLeast(rulematch.Name, byType["EventFired"], 2) &&
			counts.atLeast(enforce.Name, byType["EnforcementCreated"], 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not settle: %d fired, %d enforcements, %d executions",
				len(byType["EventFired"]), len(byType["EnforcementCreated"]), len(byType["ExecutionRequested"]))
		}
		time.Sleep(10 * time.Millisecond) // polling the store with a deadline
	}
	// The snapshot above was read before the handlers were seen done, so it may miss what
	// their last deliveries appended (this test used to fail so on RabbitMQ, where both
	// copies of a message run at once), and the Postgres log shows a commit only once every
	// older transaction on the server has ended. Barrier: an event appended now is visible
	// only when everything committed before it is, so the log read then holds every append
	// the handlers made, duplicates included.
	marker := trigger.EventFired{EventID: ulid.Make().String(), Trigger: "core.webhook", Source: trigger.Webhook, Payload: raw(`{}`)}
	if err := sensor.Fire(ctx, store, marker, "test"); err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; {
		log = readAll(t, base)
		for _, r := range log {
			seen = seen || r.StreamID == trigger.StreamID(marker.EventID)
		}
		if time.Now().After(deadline) {
			t.Fatal("the barrier event never became visible in the log")
		}
		if !seen {
			time.Sleep(10 * time.Millisecond) // polling the store with a deadline
		}
	}
	log = slices.DeleteFunc(log, func(r eventstore.Recorded) bool { return r.StreamID == trigger.StreamID(marker.EventID) })

	perType := map[string]int{}
	streams := map[string]int{}
	for _, r := range log {
		perType[r.Type]++
		streams[r.StreamID]++
	}
	want := map[string]int{
		"PackRegistered": 2, "EventFired": events,
		"EnforcementCreated": 3 * events, "ExecutionRequested": 3 * events, "EnforcementProcessed": 3 * events,
	}
	if fmt.Sprint(perType) != fmt.Sprint(want) {
		t.Errorf("the log holds %v\nwant %v", perType, want)
	}
	perEvent := map[string]int{}
	for _, r := range log {
		if r.Type == "EnforcementCreated" {
			var c enforcement.EnforcementCreated
			if err := json.Unmarshal(r.Data, &c); err != nil {
				t.Fatal(err)
			}
			perEvent[c.EventID]++
		}
	}
	for _, id := range fired {
		if perEvent[id] != 3 {
			t.Errorf("event %s has %d enforcements, want one per rule (3)", id, perEvent[id])
		}
	}
	for stream, n := range streams {
		if n > 2 || (n == 2 && !strings.HasPrefix(stream, "enforcement-")) {
			t.Errorf("stream %s holds %d events", stream, n)
		}
	}
}

func readAll(t *testing.T, s eventstore.Store) []eventstore.Recorded {
	t.Helper()
	var out []eventstore.Recorded
	after := eventstore.Start
	for {
		batch, err := s.ReadAll(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Position
	}
}

func idsByType(log []eventstore.Recorded) map[string][]string {
	out := map[string][]string{}
	for _, r := range log {
		out[r.Type] = append(out[r.Type], r.ID.String())
	}
	return out
}
