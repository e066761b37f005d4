// Package inquiry holds inquiries: a workflow task that waits for a human answer, validated
// against a schema, from allowed users or roles, once, or times out (design §6).
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
	ParentExecutionID string          `json:"parent_execution_id,omitempty"`
	Task              string          `json:"task,omitempty"`
	Prompt            string          `json:"prompt,omitempty"`
	Schema            json.RawMessage `json:"schema"` // JSON Schema the response must satisfy
	Users             []string        `json:"users,omitempty"`
	Roles             []string        `json:"roles,omitempty"` // no users and no roles: anyone may answer
	ExpiresAt         time.Time       `json:"expires_at,omitzero"`
}

// EventType is the wire name.
func (InquiryCreated) EventType() string { return "InquiryCreated" }

// InquiryResponded records the one accepted answer. Appending it with the stream's expected
// version makes a second answer a conflict.
type InquiryResponded struct {
	InquiryID string          `json:"inquiry_id"`
	Responder string          `json:"responder"`
	Response  json.RawMessage `json:"response"`
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
