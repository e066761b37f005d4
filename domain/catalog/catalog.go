// Package catalog lists every event type the log can hold, by wire name. schemas/events holds
// one JSON Schema per entry, and a test keeps the two in step.
package catalog

import (
	"slices"

	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/domain/workflow"
)

// entries maps each wire name to a constructor of an empty payload, keyed by the payload's own
// EventType() so a wire name is written exactly once, in its domain package.
var entries = index(
	func() event.Event { return &pack.PackRegistered{} },
	func() event.Event { return &pack.PackRetired{} },
	func() event.Event { return &rule.RuleEnabled{} },
	func() event.Event { return &rule.RuleDisabled{} },
	func() event.Event { return &trigger.EventFired{} },
	func() event.Event { return &enforcement.EnforcementCreated{} },
	func() event.Event { return &enforcement.EnforcementProcessed{} },
	func() event.Event { return &enforcement.EnforcementSkipped{} },
	func() event.Event { return &execution.ExecutionRequested{} },
	func() event.Event { return &execution.ExecutionScheduled{} },
	func() event.Event { return &execution.ExecutionStatusChanged{} },
	func() event.Event { return &policy.ExecutionDelayed{} },
	func() event.Event { return &policy.ExecutionRefused{} },
	func() event.Event { return &policy.ExecutionRetryScheduled{} },
	func() event.Event { return &policy.ExecutionReleased{} },
	func() event.Event { return &policy.SlotClaimed{} },
	func() event.Event { return &policy.QueueJoined{} },
	func() event.Event { return &policy.SlotReleased{} },
	func() event.Event { return &worker.WorkerRegistered{} },
	func() event.Event { return &worker.WorkerDeregistered{} },
	func() event.Event { return &workflow.WorkflowStarted{} },
	func() event.Event { return &workflow.WorkflowTaskScheduled{} },
	func() event.Event { return &workflow.WorkflowTaskCompleted{} },
	func() event.Event { return &workflow.WorkflowTaskRetried{} },
	func() event.Event { return &workflow.WorkflowTaskTransitioned{} },
	func() event.Event { return &workflow.WorkflowCompleted{} },
	func() event.Event { return &workflow.WorkflowPaused{} },
	func() event.Event { return &workflow.WorkflowResumed{} },
	func() event.Event { return &workflow.WorkflowTaskWaiting{} },
	func() event.Event { return &workflow.WorkflowTaskContinued{} },
	func() event.Event { return &inquiry.InquiryCreated{} },
	func() event.Event { return &inquiry.InquiryResponded{} },
	func() event.Event { return &inquiry.InquiryTimedOut{} },
	func() event.Event { return &inquiry.InquiryCancelled{} },
	func() event.Event { return &kv.KeySet{} },
	func() event.Event { return &kv.KeyDeleted{} },
	func() event.Event { return &kv.KeyExpired{} },
)

func index(constructors ...func() event.Event) map[string]func() event.Event {
	m := make(map[string]func() event.Event, len(constructors))
	for _, f := range constructors {
		t := f().EventType()
		if _, dup := m[t]; dup {
			panic("catalog: two types share the wire name " + t) // wiring error
		}
		m[t] = f
	}
	return m
}

// New returns an empty payload of the given wire type, for decoding, and whether it is known.
func New(eventType string) (event.Event, bool) {
	f, ok := entries[eventType]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists every wire type, sorted.
func Types() []string {
	out := make([]string, 0, len(entries))
	for t := range entries {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
