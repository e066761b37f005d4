// Package catalog lists every event type the log can hold, by wire name. schemas/events holds
// one JSON Schema per entry, and a test keeps the two in step.
package catalog

import (
	"sort"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

var constructors = map[string]func() event.Event{
	"ExecutionRequested":     func() event.Event { return &execution.ExecutionRequested{} },
	"ExecutionScheduled":     func() event.Event { return &execution.ExecutionScheduled{} },
	"ExecutionStatusChanged": func() event.Event { return &execution.ExecutionStatusChanged{} },
}

// New returns an empty payload of the given wire type, for decoding, and whether it is known.
func New(eventType string) (event.Event, bool) {
	f, ok := constructors[eventType]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists every wire type, sorted.
func Types() []string {
	out := make([]string, 0, len(constructors))
	for t := range constructors {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
