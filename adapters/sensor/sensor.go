// Package sensor holds what every source of trigger events shares: checking a payload against
// its trigger's flat payload_schema, and appending the EventFired that records it. The sources
// themselves live in the sub-packages: timer (run by the engine per enabled rule), webhook
// (POST /api/v1/webhooks/{trigger}) and process (a pack's sensor scripts).
package sensor

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/trigger"
)

// Fire appends e to its own stream, event-<EventID>, with NoStream. Correlation starts here: a
// trigger event is the root of the causal tree of everything it sets off, so its correlation
// id is its own id. A *eventstore.VersionConflictError means the event was already recorded
// (a timer tick another engine fired): callers with deterministic ids treat it as done.
func Fire(ctx context.Context, store eventstore.Store, e trigger.EventFired, actor string) error {
	return FireTagged(ctx, store, e, actor, "")
}

// FireTagged is Fire with a trace tag in the event's metadata (a StackStorm sensor's
// dispatch(trace_tag=...)), which every event it causes carries on.
func FireTagged(ctx context.Context, store eventstore.Store, e trigger.EventFired, actor, traceTag string) error {
	p, err := eventstore.NewProposed(e, event.Metadata{CorrelationID: e.EventID, Actor: actor, TraceTag: traceTag})
	if err != nil {
		return fmt.Errorf("fire %s event %s: %w", e.Trigger, e.EventID, err)
	}
	// The envelope keeps NewProposed's fresh id: a deterministic EventID appended twice must
	// fail on the stream's version (a conflict), never on a duplicate envelope id.
	if _, err := store.Append(ctx, trigger.StreamID(e.EventID), eventstore.NoStream, p); err != nil {
		return fmt.Errorf("fire %s event %s: %w", e.Trigger, e.EventID, err)
	}
	return nil
}
