package enforcement_test

import (
	"testing"

	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
)

func TestAnEnforcementIsDoneOnceItsOutcomeIsRecorded(t *testing.T) {
	t.Parallel()
	created := &enforcement.EnforcementCreated{EnforcementID: "e1", Rule: "examples.r", Action: "core.noop"}
	for _, tc := range []struct {
		name   string
		events []event.Event
		done   bool
	}{
		{"created", []event.Event{created}, false},
		{"processed", []event.Event{created, &enforcement.EnforcementProcessed{EnforcementID: "e1", ExecutionID: "x1"}}, true},
		{"skipped", []event.Event{created, &enforcement.EnforcementSkipped{EnforcementID: "e1", Reason: "rule disabled"}}, true},
	} {
		s, err := enforcement.FromEvents(tc.events)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if s.Done() != tc.done || s.Created().Action != "core.noop" {
			t.Errorf("%s: Done() = %v, Created() = %+v; want done %v, action core.noop", tc.name, s.Done(), s.Created(), tc.done)
		}
	}
	if _, err := enforcement.FromEvents([]event.Event{&enforcement.EnforcementProcessed{EnforcementID: "e1"}}); err == nil {
		t.Error("a stream without EnforcementCreated folded; want an error")
	}
}
