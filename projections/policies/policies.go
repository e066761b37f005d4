// Package policies is the policies read model: one row per policy a pack ever declared (from
// PackRegistered and PackRetired), with how often it refused and retried, and one member row per
// execution a policy holds right now — running (a slot claimed, not yet released), queued (joined
// the queue, neither admitted nor released) or delayed by a rate limit (ExecutionDelayed naming
// the policy, not yet released or ended). Live counts are counts of member rows, so they cannot
// drift from the members. adapters/readmodel stores the rows and runs the queries.
package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:policies"

// ErrNotFound is returned for a policy the read model does not hold.
var ErrNotFound = errors.New("policy not found")

// Policy is one row: the policy as last registered, and its totals.
type Policy struct {
	Ref         string
	Pack        string
	Action      string
	Type        policy.Type
	Enabled     bool
	Description string
	Spec        json.RawMessage // the type's parameters (concurrency, rate_limit or retry)
	File        string
	// Refused and RetriesScheduled count ExecutionRefused and ExecutionRetryScheduled naming it.
	Refused          int64
	RetriesScheduled int64

	CreatedAt time.Time
	UpdatedAt time.Time
	RetiredAt time.Time // zero while live

	Position eventstore.Position // of the last event applied
}

// Hold is what a member row records: a slot or queue place on the policy's stream, or a
// rate limit's delay on the execution's stream. An execution may have one of each.
type Hold string

// The holds.
const (
	HoldSlot  Hold = "slot"  // State is Running, Queued (a concurrency wait) or Delayed (a rate limit's)
	HoldDelay Hold = "delay" // no longer written: a rate limit's wait is a HoldSlot Delayed
)

// State is where a member stands.
type State string

// The states of a member.
const (
	Running State = "running"
	Queued  State = "queued"
	Delayed State = "delayed"
)

// MemberKey identifies a member row.
type MemberKey struct {
	Policy      string
	ExecutionID string
	Hold        Hold
}

// Member is one execution a policy holds now.
type Member struct {
	MemberKey
	Key      string // the policy key (values of its attributes)
	State    State
	Since    time.Time
	Position eventstore.Position
}

// Store loads and saves rows inside the projection's transaction.
type Store interface {
	LoadPolicies(ctx context.Context, refs []string) (map[string]Policy, error)
	SavePolicies(ctx context.Context, rows []Policy) error
	// LoadPolicyMembers returns every member row of the executions.
	LoadPolicyMembers(ctx context.Context, executionIDs []string) (map[MemberKey]Member, error)
	// SavePolicyMembers upserts save and deletes the rows of drop.
	SavePolicyMembers(ctx context.Context, save []Member, drop []MemberKey) error
}

// specOf is the policy's parameters, as registered.
func specOf(p pack.Policy) (json.RawMessage, error) {
	var v any
	switch {
	case p.Concurrency != nil:
		v = p.Concurrency
	case p.RateLimit != nil:
		v = p.RateLimit
	case p.Retry != nil:
		v = p.Retry
	default:
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("policy %s: spec: %w", p.Ref, err)
	}
	return b, nil
}

// isDelayed says whether a status change leaves delayed: every rate-limit delay ends with it.
func isDelayed(ch *execution.ExecutionStatusChanged) bool { return ch.From == execution.Delayed }
