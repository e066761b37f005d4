// Package event defines what every event of the log shares: a stable wire name that never
// derives from its Go name, a schema version, and the metadata that links causes to effects.
// The payloads live with their domain (domain/execution, …); domain/catalog lists them all.
package event

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
