package chaos

import (
	"errors"
	"slices"
	"testing"
)

// TestTallyCountsFromSideEffects pins the counting rules the report relies on, so that the
// suite cannot drift into counting the engine's own records as proof that something ran.
func TestTallyCountsFromSideEffects(t *testing.T) {
	t.Parallel()
	a := newAcks()
	a.ids = map[string]string{"t1": "x1", "t2": "x2", "t3": "x3", "t4": "x4", "t5": "x5", "t6": "x6", "t7": "x7"}
	a.gaveUp = map[string]string{"t8": "connection refused"}
	marks := map[string][]string{
		"t1": {"x1"},
		"t2": {"x2", "x2"},  // one execution ran twice
		"t3": {"x3", "x3b"}, // a retried request ran as two executions
	}
	rows := []row{
		{id: "x1", status: "completed", token: "t1", started: true},
		{id: "x2", status: "completed", token: "t2", started: true},
		{id: "x3", status: "completed", token: "t3", started: true},
		{id: "x3b", status: "completed", token: "t3", started: true},
		{id: "x4", status: "abandoned", reason: "worker lost", token: "t4"},                // never started: no true reason
		{id: "x5", status: "abandoned", reason: "worker lost", token: "t5", started: true}, // may have run
		{id: "x6", status: "failed", reason: "no worker for runtime shell", token: "t6"},
		{id: "x7", status: "scheduled", token: "t7"},
	}
	x := &tally{}
	x.count(a.acknowledged(), 8, a, marks, rows, nil)
	got := []int{x.acknowledged, x.ran, x.neverRan, x.endedWithReason, x.ranTwice, x.stuck}
	want := []int{7, 3, 2, 2, 2, 1}
	if !slices.Equal(got, want) {
		t.Errorf("acknowledged, ran, never ran, ended with reason, ran twice, stuck = %v, want %v\nnotes: %v", got, want, x.notes)
	}
	x.verify, x.verifyOK = "ok", true
	if f := x.failures(); len(f) != 4 { // never ran, ran twice, stuck, one request unacknowledged
		t.Errorf("failures %q, want 4", f)
	}

	missing := &tally{}
	missing.count(a.acknowledged(), 7, a, nil, nil, errors.New("down"))
	if missing.stuck != 7 || missing.neverRan != 7 {
		t.Errorf("nothing in the read model and no marks: stuck %d, never ran %d; want 7 and 7", missing.stuck, missing.neverRan)
	}
}
