// Package inquiry holds inquiries: a workflow task (or any execution of core.ask) that waits
// for a person's answer, validated against a schema, from allowed tokens or roles, once, or
// times out (design §6). An inquiry is an aggregate of its own, stream inquiry-<id>, whose id
// is the asking execution's; the execution goes requested → pending while it waits and ends
// completed (the answer is its result), timeout or cancelled.
package inquiry

import (
	"encoding/json"
	"time"
)

// StreamID is the stream of one inquiry: "inquiry-<id>". An inquiry's id is the id of the
// execution that asks it, so an execution asks at most one inquiry and a redelivered request
// lands on the same stream.
func StreamID(inquiryID string) string { return "inquiry-" + inquiryID }

// InquiryCreated records a question waiting for an answer.
type InquiryCreated struct {
	InquiryID   string `json:"inquiry_id"`
	ExecutionID string `json:"execution_id"` // the asking execution (equal to InquiryID)
	// ParentExecutionID and Task locate the question in its workflow, when it has one.
	ParentExecutionID string `json:"parent_execution_id,omitempty"`
	Task              string `json:"task,omitempty"`
	// Route is free text for whoever routes questions to people (a team, a channel).
	Route string `json:"route,omitempty"`
	// Schema is what the answer must satisfy, as the asker gave it; SchemaKind says how it
	// was read: "flat" (Attune's name → {type, required, enum …}) or "json_schema".
	Schema     json.RawMessage `json:"schema"`
	SchemaKind SchemaKind      `json:"schema_kind"`
	// Roles (least roles, viewer < operator < admin) and Tokens (token names) may answer;
	// either matching is enough. Neither: operator and above.
	Roles  []string `json:"roles,omitempty"`
	Tokens []string `json:"tokens,omitempty"`
	// TTLSeconds is how long the question waits; ExpiresAt is when it times out.
	TTLSeconds int       `json:"ttl"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// EventType is the wire name.
func (InquiryCreated) EventType() string { return "InquiryCreated" }

// InquiryResponded records the one accepted answer. Appending it with the stream's expected
// version makes a second answer a conflict.
type InquiryResponded struct {
	InquiryID string          `json:"inquiry_id"`
	Responder string          `json:"responder"` // the answering token's name
	Response  json.RawMessage `json:"response"`  // as validated (a flat schema's defaults applied)
}

// EventType is the wire name.
func (InquiryResponded) EventType() string { return "InquiryResponded" }

// InquiryTimedOut records that nobody answered before the deadline.
type InquiryTimedOut struct {
	InquiryID string    `json:"inquiry_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EventType is the wire name.
func (InquiryTimedOut) EventType() string { return "InquiryTimedOut" }

// InquiryCancelled records that the question will not be answered: its execution was
// cancelled (directly, or by its workflow's cancel) or ended otherwise before an answer.
type InquiryCancelled struct {
	InquiryID string `json:"inquiry_id"`
	Reason    string `json:"reason"`
}

// EventType is the wire name.
func (InquiryCancelled) EventType() string { return "InquiryCancelled" }
