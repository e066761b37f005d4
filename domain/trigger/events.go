// Package trigger holds trigger events: something happened that rules may react to (a timer
// ticked, a webhook arrived, a sensor saw a change, a user posted an event).
package trigger

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/ident"
)

// StreamID is the stream of one trigger event: "event-<id>".
func StreamID(eventID string) string { return "event-" + eventID }

// Source is what produced a trigger event.
type Source string

// The sources of design §5.
const (
	Timer   Source = "timer"   // the engine's timers, per enabled rule
	Webhook Source = "webhook" // POST /api/v1/webhooks/{trigger}
	Sensor  Source = "sensor"  // a sensor process
	API     Source = "api"     // posted directly through the API or the CLI
	// Engine is the engine itself, reporting what its log records (an execution ended:
	// StackStorm's core.st2.generic.actiontrigger).
	Engine Source = "engine"
)

// Sources lists every source.
var Sources = []Source{Timer, Webhook, Sensor, API, Engine}

// ParseSource accepts exactly the names of Sources.
func ParseSource(s string) (Source, error) {
	if src := Source(s); slices.Contains(Sources, src) {
		return src, nil
	}
	return "", fmt.Errorf("unknown event source %q (want one of %v)", s, Sources)
}

// EventFired records one trigger event. Its stream holds it alone; enforcements refer to it by
// EventID, which is the id their own ids derive from.
type EventFired struct {
	EventID string          `json:"event_id"`
	Trigger string          `json:"trigger"` // the trigger's ref, e.g. core.intervaltimer
	Payload json.RawMessage `json:"payload"` // a JSON object, checked against the trigger's payload_schema
	Source  Source          `json:"source"`
	// Rule is set when the event is meant for one rule only: a timer runs per rule with that
	// rule's trigger_params, so its ticks must not fire other rules on the same trigger; a
	// StackStorm sensor watches per rule that passes its trigger parameters (add_trigger),
	// so what it dispatches for that rule's instance is for that rule alone.
	Rule string `json:"rule,omitempty"`
	// Sensor is the ref of the sensor that posted it (source sensor).
	Sensor string `json:"sensor,omitempty"`
	// URL is set on a StackStorm webhook's event (trigger core.st2.webhook): the url it was
	// posted to, /api/v1/webhooks/{url}. Only the rules whose trigger_params name that url react.
	URL string `json:"url,omitempty"`
	// OccurredAt is when it happened, if the source knows better than the log's recorded_at
	// (a timer's scheduled tick, a sensor's observation).
	OccurredAt time.Time `json:"occurred_at,omitzero"`
}

// EventType is the wire name.
func (EventFired) EventType() string { return "EventFired" }

// TimerEventID is the id of the event a timer fires for rule at its tick at. Appended with
// NoStream, it makes a tick fire once even when two engines or a restarted one run the timer.
func TimerEventID(rule string, at time.Time) ulid.ULID {
	return ident.At(at, "timer", rule)
}
