package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// A Concurrency or RateLimit policy keeps, per key (the values of its attributes), one stream
// of its own: "policy-<ref>-<key digest>". Admission is decided by folding that stream and
// appended to it with the version it was folded at, so two engines, or one message delivered
// twice, never admit a run too many: the second append conflicts and decides again. The
// execution's own stream then records what the decision did to it (ExecutionDelayed,
// ExecutionReleased, ExecutionRefused and the status change that goes with each).

// QueueStreamID is the stream of one policy's key.
func QueueStreamID(policyRef, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "policy-" + policyRef + "-" + hex.EncodeToString(sum[:8])
}

// SlotClaimed records that an execution was admitted under the policy's key: it counts
// against a Concurrency threshold until its SlotReleased, and against a RateLimit window
// from At.
type SlotClaimed struct {
	Policy      string `json:"policy"`
	PolicyType  Type   `json:"policy_type"`
	Key         string `json:"key"`
	ExecutionID string `json:"execution_id"`
	// FromQueue says the execution had waited in the queue (QueueJoined) and leaves it now.
	FromQueue bool `json:"from_queue,omitempty"`
	// At is when admission decided it, by the deciding engine's clock: a RateLimit window
	// counts the claims whose At falls within it.
	At time.Time `json:"at,omitzero"`
}

// EventType is the wire name.
func (SlotClaimed) EventType() string { return "PolicySlotClaimed" }

// QueueJoined records that an execution waits, first in first out, for the policy to admit
// it (Enqueue mode).
type QueueJoined struct {
	Policy      string `json:"policy"`
	PolicyType  Type   `json:"policy_type"`
	Key         string `json:"key"`
	ExecutionID string `json:"execution_id"`
}

// EventType is the wire name.
func (QueueJoined) EventType() string { return "PolicyQueueJoined" }

// SlotReleased records that an execution no longer holds a slot or a place in the queue: it
// reached Status, a terminal state (a cancel while queued included).
type SlotReleased struct {
	Policy      string           `json:"policy"`
	PolicyType  Type             `json:"policy_type"`
	Key         string           `json:"key"`
	ExecutionID string           `json:"execution_id"`
	Status      execution.Status `json:"status"`
}

// EventType is the wire name.
func (SlotReleased) EventType() string { return "PolicySlotReleased" }

// ExecutionReleased records, in the execution's stream and with delayed → scheduling, that the
// policy which delayed it admits it now.
type ExecutionReleased struct {
	ExecutionID string `json:"execution_id"`
	Policy      string `json:"policy"`
	PolicyType  Type   `json:"policy_type"`
	Key         string `json:"key,omitempty"`
	Reason      string `json:"reason"`
}

// EventType is the wire name.
func (ExecutionReleased) EventType() string { return "ExecutionReleased" }
