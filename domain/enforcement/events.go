// Package enforcement holds enforcements: a rule matched a trigger event and its parameters
// were rendered; processing it requests (at most) one execution.
package enforcement

import (
	"encoding/json"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/ident"
)

// StreamID is the stream of one enforcement: "enforcement-<id>".
func StreamID(enforcementID string) string { return "enforcement-" + enforcementID }

// ID is the id of the one enforcement a rule may create for a trigger event. The rule matcher
// appends EnforcementCreated to StreamID(ID(event, rule).String()) with NoStream, so a
// redelivered EventFired cannot enforce a rule twice.
func ID(eventID ulid.ULID, rule string) ulid.ULID {
	return ident.Derive(eventID, "enforcement", rule)
}

// EnforcementCreated records that a rule matched a trigger event. Parameters are rendered from
// the rule's templates; secret parameters are already encrypted or replaced by a reference.
type EnforcementCreated struct {
	EnforcementID string          `json:"enforcement_id"`
	Rule          string          `json:"rule"`
	Trigger       string          `json:"trigger"`
	EventID       string          `json:"event_id"`
	Action        string          `json:"action"`
	Parameters    json.RawMessage `json:"parameters"`
	// Failure, when set, says why the rule's parameters could not be rendered for this event
	// (a template naming a payload field the event lacks). Processing then requests the
	// execution failed with this reason, so the run ends visibly instead of vanishing.
	Failure string `json:"failure,omitempty"`
}

// EventType is the wire name.
func (EnforcementCreated) EventType() string { return "EnforcementCreated" }

// EnforcementProcessed records that the enforcement requested its execution
// (execution.IDForEnforcement of its id).
type EnforcementProcessed struct {
	EnforcementID string `json:"enforcement_id"`
	ExecutionID   string `json:"execution_id"`
}

// EventType is the wire name.
func (EnforcementProcessed) EventType() string { return "EnforcementProcessed" }

// EnforcementSkipped records that the enforcement requests no execution, and why: the rule was
// disabled or the action retired in the meantime, parameters failed validation …
type EnforcementSkipped struct {
	EnforcementID string `json:"enforcement_id"`
	Reason        string `json:"reason"`
}

// EventType is the wire name.
func (EnforcementSkipped) EventType() string { return "EnforcementSkipped" }
