// Package event defines the vocabulary of the log: the metadata every event carries and the
// catalogue of event payloads, each with a stable wire name that never derives from its Go name.
package event

import "sort"

// Event is a payload that can be appended to the log. The wire name is part of the
// persisted format: renaming it is a migration, so it is declared, never derived.
type Event interface {
	EventType() string
}

// Versioned is implemented by payloads whose schema has evolved past version 1.
type Versioned interface {
	SchemaVersion() int
}

// SchemaVersionOf returns the payload's schema version (1 unless it says otherwise).
func SchemaVersionOf(e Event) int {
	if v, ok := e.(Versioned); ok {
		return v.SchemaVersion()
	}
	return 1
}

// Metadata travels with every event. Correlation ties every event caused by one trigger event
// (or one API request) together; causation names the event or request that directly caused it.
type Metadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
	TraceTag      string `json:"trace_tag,omitempty"`
}

// Caused returns metadata for an event caused by the event with the given id and metadata:
// same correlation and trace tag, causation pointing at the cause.
func (m Metadata) Caused(causeID string) Metadata {
	out := m
	if out.CorrelationID == "" {
		out.CorrelationID = causeID
	}
	out.CausationID = causeID
	return out
}

// New returns an empty payload of the given wire type, for decoding, and whether the type is known.
func New(eventType string) (Event, bool) {
	f, ok := catalogue[eventType]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists every wire type of the catalogue, sorted.
func Types() []string {
	out := make([]string, 0, len(catalogue))
	for t := range catalogue {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
