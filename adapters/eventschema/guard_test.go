package eventschema_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/safetext"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

type guardBundle struct {
	inner *memstore.Store // the wrapped store, read directly to see what was really written
}

func setupGuard(t *testing.T) (eventstore.Store, guardBundle) {
	t.Helper()
	inner := memstore.New(memstore.Config{})
	return eventschema.Guard(inner, newValidator(t)), guardBundle{inner: inner}
}

func propose(t *testing.T, e event.Event) eventstore.Proposed {
	t.Helper()
	p, err := eventstore.NewProposed(e, event.Metadata{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func requested(id string) execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: "core.echo", Parameters: json.RawMessage(`{"message":"hi"}`)}
}

func TestGuardAppendsValidEventsAndReadsThemBack(t *testing.T) {
	t.Parallel()
	store, _ := setupGuard(t)
	ctx := context.Background()
	id := ulid.Make().String()
	stream := execution.StreamID(id)
	changed := execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Scheduling}
	res, err := store.Append(ctx, stream, eventstore.NoStream, propose(t, requested(id)), propose(t, changed))
	if err != nil {
		t.Fatalf("append valid events: %v", err)
	}
	if res.NextExpected != 2 {
		t.Fatalf("NextExpected = %d, want 2", res.NextExpected)
	}
	got, err := store.ReadStream(ctx, stream)
	if err != nil {
		t.Fatalf("read through the guard: %v", err)
	}
	if len(got) != 2 || got[0].Type != "ExecutionRequested" || got[1].Type != "ExecutionStatusChanged" {
		t.Fatalf("read %d events %v, want ExecutionRequested, ExecutionStatusChanged", len(got), types(got))
	}
	// A version conflict still comes from the wrapped store, untouched.
	_, err = store.Append(ctx, stream, eventstore.NoStream, propose(t, changed))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || conflict.Actual != 2 {
		t.Fatalf("append to an existing stream with NoStream: got %v, want a conflict at version 2", err)
	}
}

func TestGuardRejectsAnInvalidEventNamingTypeAndFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	store, b := setupGuard(t)
	ctx := context.Background()
	id := ulid.Make().String()
	bad := execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Running, To: "exploded"}
	_, err := store.Append(ctx, execution.StreamID(id), eventstore.Any, propose(t, bad))
	var invalid *eventschema.InvalidEventError
	if !errors.As(err, &invalid) || invalid.Type != "ExecutionStatusChanged" || invalid.Field != "/to" {
		t.Fatalf("got %v, want an *InvalidEventError for ExecutionStatusChanged /to", err)
	}
	if !errors.Is(err, eventstore.ErrInvalidAppend) {
		t.Fatalf("%v does not match eventstore.ErrInvalidAppend: callers would retry it", err)
	}
	assertNothingWritten(t, b, execution.StreamID(id))
}

func TestGuardRejectsAnUnknownType(t *testing.T) {
	t.Parallel()
	store, b := setupGuard(t)
	p := eventstore.Proposed{ID: ulid.Make(), Type: "ExecutionTeleported", SchemaVersion: 1, Data: []byte(`{}`)}
	_, err := store.Append(context.Background(), "execution-x", eventstore.Any, p)
	if !errors.Is(err, eventschema.ErrUnknownEventType) || !strings.Contains(err.Error(), "ExecutionTeleported") {
		t.Fatalf("got %v, want ErrUnknownEventType naming the type", err)
	}
	assertNothingWritten(t, b, "execution-x")
}

func TestGuardWritesNoneOfABatchWithOneBadEvent(t *testing.T) {
	t.Parallel()
	store, b := setupGuard(t)
	id := ulid.Make().String()
	missingAction := requested(id)
	missingAction.Action = ""
	_, err := store.Append(context.Background(), execution.StreamID(id), eventstore.NoStream,
		propose(t, requested(id)),
		propose(t, missingAction),
		propose(t, execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Scheduling}),
	)
	var invalid *eventschema.InvalidEventError
	if !errors.As(err, &invalid) || invalid.Field != "/action" {
		t.Fatalf("got %v, want the second event's /action named", err)
	}
	if !strings.Contains(err.Error(), "event 1") {
		t.Fatalf("%q does not say which event of the batch failed", err)
	}
	assertNothingWritten(t, b, execution.StreamID(id))
}

func assertNothingWritten(t *testing.T, b guardBundle, stream string) {
	t.Helper()
	ctx := context.Background()
	inStream, err := b.inner.ReadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	all, err := b.inner.ReadAll(ctx, eventstore.Position{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(inStream) != 0 || len(all) != 0 {
		t.Fatalf("a rejected append wrote %d events to %s and %d to the log", len(inStream), stream, len(all))
	}
}

func types(rs []eventstore.Recorded) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Type
	}
	return out
}

func TestGuardRefusesTextAReadModelCannotHoldNamingTheFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fired := func(payload string) eventstore.Proposed {
		return eventstore.Proposed{ID: ulid.Make(), Type: "EventFired", SchemaVersion: 1,
			Data:     []byte(`{"event_id":"` + ulid.Make().String() + `","trigger":"examples.ping","source":"webhook","payload":` + payload + `}`),
			Metadata: event.Metadata{Actor: "webhook"}}
	}
	withMeta := func(md event.Metadata) eventstore.Proposed {
		p := fired(`{}`)
		p.Metadata = md
		return p
	}
	longRef := requested(ulid.Make().String())
	longRef.Action = "examples." + strings.Repeat("a", 600)
	cases := []struct {
		name   string
		stream string
		event  eventstore.Proposed
		field  string
		code   string
	}{
		{"NUL escape in a payload value", "event-1", fired(`{"msg":"disk \u0000 full"}`), "/data/payload/msg", safetext.CodeInvalidText},
		{"NUL escape in a payload key", "event-1", fired(`{"a\u0000":1}`), "/data/payload", safetext.CodeInvalidText},
		{"invalid UTF-8 in the payload", "event-1", fired("{\"msg\":\"\xff\"}"), "/data/payload/msg", safetext.CodeInvalidText},
		{"NUL in the trace tag", "event-1", withMeta(event.Metadata{TraceTag: "a\x00"}), "/metadata/trace_tag", safetext.CodeInvalidText},
		{"a 900 KB trace tag", "event-1", withMeta(event.Metadata{TraceTag: strings.Repeat("t", 900_000)}), "/metadata/trace_tag", safetext.CodeTooLong},
		{"a huge actor", "event-1", withMeta(event.Metadata{Actor: strings.Repeat("a", 4000)}), "/metadata/actor", safetext.CodeTooLong},
		{"a ref longer than an index holds", "execution-x", propose(t, longRef), "/data/action", safetext.CodeTooLong},
		{"a NUL in the stream id", "event-\x00", fired(`{}`), "/stream_id", safetext.CodeInvalidText},
	}
	for _, c := range cases {
		store, b := setupGuard(t)
		_, err := store.Append(ctx, c.stream, eventstore.Any, c.event)
		var bad *safetext.Error
		if !errors.As(err, &bad) || bad.Field != c.field || bad.Code != c.code {
			t.Errorf("%s: got %v, want %s at %s", c.name, err, c.code, c.field)
			continue
		}
		if !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("%s: %v does not match ErrInvalidAppend", c.name, err)
		}
		assertNothingWritten(t, b, c.stream)
	}
}

func TestGuardAcceptsLongFreeFormTextAndUnicode(t *testing.T) {
	t.Parallel()
	store, _ := setupGuard(t)
	p := eventstore.Proposed{ID: ulid.Make(), Type: "EventFired", SchemaVersion: 1,
		Data: []byte(`{"event_id":"` + ulid.Make().String() + `","trigger":"examples.ping","source":"webhook","payload":{"name":"` +
			strings.Repeat("x", 10_000) + `","msg":"d\u00e9j\u00e0 vu \ud83d\ude00 日本"}}`),
		Metadata: event.Metadata{TraceTag: strings.Repeat("é", 128), Actor: "webhook"}}
	if _, err := store.Append(context.Background(), "event-1", eventstore.NoStream, p); err != nil {
		t.Fatalf("a long free-form payload field and non-ASCII text: %v", err)
	}
}

// A multi-stream append is checked entry by entry: a bad entry gets its own error and
// nothing of it is written; the entries beside it still are. No path around the guard.
func TestGuardAppendManyRefusesEachBadEntryAloneAndWritesTheOthers(t *testing.T) {
	t.Parallel()
	store, b := setupGuard(t)
	ctx := context.Background()
	good, badSchema, badText := ulid.Make().String(), ulid.Make().String(), ulid.Make().String()
	missingAction := requested(badSchema)
	missingAction.Action = ""
	nul := propose(t, requested(badText))
	nul.Metadata.TraceTag = "a\x00"
	results, err := store.AppendMany(ctx, []eventstore.StreamAppend{
		{Stream: execution.StreamID(badSchema), Expected: eventstore.NoStream, Events: []eventstore.Proposed{propose(t, missingAction)}},
		{Stream: execution.StreamID(good), Expected: eventstore.NoStream, Events: []eventstore.Proposed{propose(t, requested(good))}},
		{Stream: execution.StreamID(badText), Expected: eventstore.NoStream, Events: []eventstore.Proposed{nul}},
	})
	if err != nil {
		t.Fatalf("append many: %v", err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results for 3 entries", len(results))
	}
	var invalid *eventschema.InvalidEventError
	if !errors.As(results[0].Err, &invalid) || invalid.Field != "/action" || !errors.Is(results[0].Err, eventstore.ErrInvalidAppend) {
		t.Errorf("entry 0: %v, want its /action named as invalid", results[0].Err)
	}
	if results[1].Err != nil || results[1].NextExpected != 1 {
		t.Errorf("entry 1: %+v, want written at version 1", results[1])
	}
	var bad *safetext.Error
	if !errors.As(results[2].Err, &bad) || bad.Field != "/metadata/trace_tag" {
		t.Errorf("entry 2: %v, want its trace tag refused", results[2].Err)
	}
	all, err := b.inner.ReadAll(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].StreamID != execution.StreamID(good) {
		t.Fatalf("the log holds %d events (%v), want only the good entry's", len(all), types(all))
	}
	if results, err := store.AppendMany(ctx, nil); err != nil || len(results) != 0 {
		t.Fatalf("empty request: %v, %v; want no results and no error", results, err)
	}
}
