package execution_test

import (
	"testing"

	"github.com/attune-go/attune/domain/execution"
)

func TestACancelStopsWhatRunsAndCancelsWhatHasNotStarted(t *testing.T) {
	t.Parallel()
	want := map[execution.Status]execution.Status{
		execution.Requested: execution.Cancelled, execution.Delayed: execution.Cancelled,
		execution.Scheduling: execution.Cancelled, execution.Scheduled: execution.Cancelled,
		execution.Pending: execution.Cancelled,
		execution.Running: execution.Canceling, execution.Pausing: execution.Canceling,
		execution.Paused: execution.Canceling,
	}
	for _, s := range execution.Statuses {
		to, ok := execution.CancelTarget(s)
		w, cancels := want[s]
		switch {
		case ok != cancels || to != w:
			t.Errorf("CancelTarget(%s) = %q, %v; want %q, %v", s, to, ok, w, cancels)
		case ok && !execution.CanTransition(s, to):
			t.Errorf("CancelTarget(%s) = %s, which the state machine forbids", s, to)
		}
	}
}

func TestCancelDecidesTheTransitionOrNothing(t *testing.T) {
	t.Parallel()
	x, err := execution.FromEvents(walk(execution.Scheduling))
	if err != nil {
		t.Fatal(err)
	}
	ch, ok, err := x.Cancel("cancel requested by alice")
	if err != nil || !ok || ch.From != execution.Scheduling || ch.To != execution.Cancelled || ch.Reason != "cancel requested by alice" {
		t.Fatalf("Cancel = %+v, %v, %v; want scheduling → cancelled with the reason", ch, ok, err)
	}
	if err := x.Apply(ch); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := x.Cancel("again"); ok || err != nil {
		t.Fatalf("Cancel of a cancelled execution = %v, %v; want nothing to do", ok, err)
	}
}
