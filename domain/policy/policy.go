// Package policy is flow control on executions (design §6): the kinds of policy a pack may
// declare, their parameters, and the decisions a policy handler records. Decisions are events in
// the execution's own stream, so a queue of delayed executions survives a restart.
package policy

import (
	"fmt"
	"slices"

	"github.com/attune-go/attune/domain/execution"
)

// Type is the kind of a policy.
type Type string

// The kinds of policy.
const (
	Concurrency Type = "concurrency" // at most Threshold running at once (per key)
	RateLimit   Type = "rate_limit"  // at most Limit started per window (per key)
	Retry       Type = "retry"       // run again after a failure, timeout or lost worker
)

// Types lists every kind of policy.
var Types = []Type{Concurrency, RateLimit, Retry}

// ParseType accepts exactly the names of Types.
func ParseType(s string) (Type, error) {
	if t := Type(s); slices.Contains(Types, t) {
		return t, nil
	}
	return "", fmt.Errorf("unknown policy type %q (want one of %v)", s, Types)
}

// Mode says what becomes of an execution over a limit.
type Mode string

// The modes of Concurrency and RateLimit policies.
const (
	Enqueue Mode = "enqueue" // wait, first in first out, until the limit admits it
	Cancel  Mode = "cancel"  // refuse it: the execution is cancelled
)

// Modes lists every mode.
var Modes = []Mode{Enqueue, Cancel}

// ParseMode accepts exactly the names of Modes.
func ParseMode(s string) (Mode, error) {
	if m := Mode(s); slices.Contains(Modes, m) {
		return m, nil
	}
	return "", fmt.Errorf("unknown policy mode %q (want one of %v)", s, Modes)
}

// Backoff is how the delay between retries grows.
type Backoff string

// The backoffs of a Retry policy.
const (
	Fixed       Backoff = "fixed"       // every retry waits DelaySeconds
	Exponential Backoff = "exponential" // retry n waits DelaySeconds·2^(n-1), capped by MaxDelaySeconds
)

// Backoffs lists every backoff.
var Backoffs = []Backoff{Fixed, Exponential}

// ParseBackoff accepts exactly the names of Backoffs.
func ParseBackoff(s string) (Backoff, error) {
	if b := Backoff(s); slices.Contains(Backoffs, b) {
		return b, nil
	}
	return "", fmt.Errorf("unknown backoff %q (want one of %v)", s, Backoffs)
}

// ConcurrencySpec parameterises a Concurrency policy.
type ConcurrencySpec struct {
	Threshold int  `json:"threshold"`
	Mode      Mode `json:"mode"`
	// Attributes names action parameters: each distinct combination of their values gets its
	// own limit (StackStorm's action.concurrency.attr). Empty: one limit for the action.
	Attributes []string `json:"attributes,omitempty"`
}

// RateLimitSpec parameterises a RateLimit policy.
type RateLimitSpec struct {
	Limit         int      `json:"limit"`
	WindowSeconds int      `json:"window"`
	Mode          Mode     `json:"mode"`
	Attributes    []string `json:"attributes,omitempty"`
}

// RetryOn lists the statuses a Retry policy may retry: the endings that say nothing about
// whether running again would succeed. Completed and cancelled are final by intent.
var RetryOn = []execution.Status{execution.Failed, execution.Timeout, execution.Abandoned}

// RetrySpec parameterises a Retry policy.
type RetrySpec struct {
	// On lists the terminal statuses that trigger a retry: some of RetryOn.
	On              []execution.Status `json:"on"`
	MaxRetries      int                `json:"max_retries"`
	DelaySeconds    int                `json:"delay,omitempty"`
	Backoff         Backoff            `json:"backoff,omitempty"` // empty means Fixed
	MaxDelaySeconds int                `json:"max_delay,omitempty"`
}
