package execution_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

const id = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"

func requested() execution.ExecutionRequested {
	return execution.ExecutionRequested{
		ExecutionID: id, Action: "examples.shout", RunnerType: "python", Parameters: json.RawMessage(`{"message":"hi"}`),
		EnforcementID: "01JQ3V5E8G7ZKX2N4P6R8T0W30", ParentID: "01JQ3V5E8G7ZKX2N4P6R8T0W31", WorkflowTask: "notify",
	}
}

func changed(from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

// walk returns the history of an execution that went through the given statuses.
func walk(path ...execution.Status) []event.Event {
	events := []event.Event{requested()}
	from := execution.Requested
	for _, to := range path {
		events = append(events, changed(from, to))
		from = to
	}
	return events
}

func TestFromEventsFoldsTheStream(t *testing.T) {
	t.Parallel()
	r := requested()
	events := []event.Event{
		&r, // decoded events are pointers (catalog.New); both forms fold
		changed(execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: id, WorkerID: "worker-a", Runtime: "python3"},
		changed(execution.Scheduling, execution.Scheduled),
		// A workflow parent's stream holds its task events too; they are not the execution's.
		workflow.WorkflowStarted{ExecutionID: id, Action: "examples.shout", Definition: json.RawMessage(`{}`)},
		&execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Scheduled, To: execution.Running, WorkerID: "worker-b"},
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	got := map[string]any{
		"id": x.ID(), "status": x.Status(), "action": x.Action(), "runner": x.RunnerType(),
		"parent": x.ParentID(), "task": x.WorkflowTask(), "enforcement": x.EnforcementID(),
		"worker": x.WorkerID(), "runtime": x.Runtime(), "params": string(x.Parameters()), "version": x.Version(),
	}
	want := map[string]any{
		"id": id, "status": execution.Running, "action": "examples.shout", "runner": "python",
		"parent": r.ParentID, "task": "notify", "enforcement": r.EnforcementID,
		"worker": "worker-b", "runtime": "python3", "params": `{"message":"hi"}`, "version": int64(6),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("folded\n %v\nwant\n %v", got, want)
	}
}

func TestFromEventsRefusesAStreamNoWriterCouldHaveProduced(t *testing.T) {
	t.Parallel()
	other := requested()
	other.ExecutionID = "01JQ3V5E8G7ZKX2N4P6R8T0W39"
	noAction := requested()
	noAction.Action = ""
	tests := []struct {
		name   string
		events []event.Event
		errHas string
	}{
		{"empty stream", nil, "empty stream"},
		{"no ExecutionRequested first", []event.Event{changed(execution.Requested, execution.Running)}, "does not open with ExecutionRequested"},
		{"requested without an action", []event.Event{noAction}, "without id or action"},
		{"requested twice", []event.Event{requested(), requested()}, "requested twice"},
		{"a change from a status it was not in", append(walk(execution.Scheduling), changed(execution.Requested, execution.Scheduling)),
			"changed from requested, but it was scheduling"},
		{"a transition the design forbids", walk(execution.Completed), "cannot go from requested to completed"},
		{"a change after a terminal status", walk(execution.Running, execution.Completed, execution.Failed), "cannot go from completed to failed"},
		{"an event of another execution", []event.Event{requested(), execution.ExecutionStatusChanged{
			ExecutionID: other.ExecutionID, From: execution.Requested, To: execution.Scheduling}}, "in the stream of execution"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x, err := execution.FromEvents(tt.events)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("FromEvents = %v, %v; want an error containing %q", x, err, tt.errHas)
			}
		})
	}
}

func TestTransitionDecidesOnlyWhatTheStateMachineAllows(t *testing.T) {
	t.Parallel()
	exit0 := 0
	tests := []struct {
		name    string
		history []execution.Status
		to      execution.Status
		outcome execution.Outcome
		want    *execution.ExecutionStatusChanged // nil: refused
		errHas  string
	}{
		{name: "schedule a requested execution", to: execution.Scheduling,
			want: &execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Scheduling}},
		{name: "delay it for a policy", to: execution.Delayed, outcome: execution.Outcome{Reason: "concurrency 1"},
			want: &execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Delayed, Reason: "concurrency 1"}},
		{name: "complete a requested one", to: execution.Completed, errHas: "cannot go from requested to completed"},
		{name: "complete a running one with its result",
			history: []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running}, to: execution.Completed,
			outcome: execution.Outcome{WorkerID: "worker-a", Result: json.RawMessage(`{"ok":true}`), ExitCode: &exit0, Stdout: "ok\n", OutputTruncated: true},
			want: &execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Running, To: execution.Completed, WorkerID: "worker-a",
				Result: json.RawMessage(`{"ok":true}`), ExitCode: &exit0, Stdout: "ok\n", OutputTruncated: true}},
		{name: "a result on a status that is not terminal",
			history: []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running}, to: execution.Canceling,
			outcome: execution.Outcome{Result: json.RawMessage(`{}`)}, errHas: "belongs to a terminal status"},
		{name: "a run that ends before its cancel lands",
			history: []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running, execution.Canceling}, to: execution.Completed,
			want: &execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Canceling, To: execution.Completed}},
		{name: "abandon a scheduled one whose worker is lost",
			history: []execution.Status{execution.Scheduling, execution.Scheduled}, to: execution.Abandoned, outcome: execution.Outcome{Reason: "worker lost"},
			want: &execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Scheduled, To: execution.Abandoned, Reason: "worker lost"}},
		{name: "leave a terminal status",
			history: []execution.Status{execution.Cancelled}, to: execution.Scheduling, errHas: "cannot go from cancelled to scheduling"},
		{name: "stay where it is",
			history: []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running}, to: execution.Running,
			errHas: "cannot go from running to running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x, err := execution.FromEvents(walk(tt.history...))
			if err != nil {
				t.Fatalf("fold: %v", err)
			}
			got, err := x.Transition(tt.to, tt.outcome)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Transition = %+v, %v; want an error containing %q", got, err, tt.errHas)
				}
				var te *execution.TransitionError
				if strings.Contains(tt.errHas, "cannot go") && !errors.As(err, &te) {
					t.Fatalf("%v is not a *TransitionError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Transition: %v", err)
			}
			// Every change names the execution's parent (here a workflow's), so that a
			// consumer learns from it whether the execution is a task.
			if parent, known := got.Parent(); !known || parent != requested().ParentID {
				t.Fatalf("decided a change naming parent %q (known %v), want %q", parent, known, requested().ParentID)
			}
			want := *tt.want
			want.ParentID = got.ParentID
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decided\n %+v\nwant\n %+v", got, want)
			}
			// The decision folds: the aggregate moves on to it.
			before := x.Version()
			if err := x.Apply(got); err != nil {
				t.Fatalf("apply the decision: %v", err)
			}
			if x.Status() != tt.to || x.Version() != before+1 {
				t.Fatalf("after apply: status %s version %d, want %s %d", x.Status(), x.Version(), tt.to, before+1)
			}
		})
	}
}

func TestWorkerLeftPlacesAgainWhatNeverStartedAndAbandonsWhatMayHaveRun(t *testing.T) {
	t.Parallel()
	placed := func(worker string) []event.Event {
		return []event.Event{
			execution.ExecutionScheduled{ExecutionID: id, WorkerID: worker, Runtime: "python3"},
			changed(execution.Scheduling, execution.Scheduled),
		}
	}
	onWorker := func(n int, then ...execution.Status) []event.Event {
		events := walk(execution.Scheduling)
		for i := range n {
			events = append(events, placed("w1")...)
			if i < n-1 {
				events = append(events, execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Scheduled, To: execution.Scheduling, WorkerID: "w1"})
			}
		}
		from := execution.Scheduled
		for _, to := range then {
			events = append(events, changed(from, to))
			from = to
		}
		return events
	}
	for _, tc := range []struct {
		name   string
		events []event.Event
		worker string
		want   string // "" when there is nothing to do
	}{
		{"scheduled there", onWorker(1), "w1",
			"scheduled→scheduling: worker w1 left (lost: no heartbeat for 6s) before it started the run; placed again"},
		{"scheduled there, placed the last time allowed", onWorker(execution.MaxPlacements), "w1",
			"scheduled→abandoned: worker w1 left (lost: no heartbeat for 6s) before it started the run; placed 5 times already, given up"},
		{"running there", onWorker(1, execution.Running), "w1", "running→abandoned: worker w1 left (lost: no heartbeat for 6s)"},
		{"canceling there", onWorker(1, execution.Running, execution.Canceling), "w1", "canceling→abandoned: worker w1 left (lost: no heartbeat for 6s)"},
		{"scheduled on another worker", onWorker(1), "w2", ""},
		{"waiting for a worker", walk(execution.Scheduling), "w1", ""},
		{"completed there", onWorker(1, execution.Running, execution.Completed), "w1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x, err := execution.FromEvents(tc.events)
			if err != nil {
				t.Fatalf("fold: %v", err)
			}
			ch, ok, err := x.WorkerLeft(tc.worker, "lost: no heartbeat for 6s")
			if err != nil {
				t.Fatalf("WorkerLeft: %v", err)
			}
			got := ""
			if ok {
				got = string(ch.From) + "→" + string(ch.To) + ": " + ch.Reason
				if ch.WorkerID != tc.worker {
					t.Errorf("the change names worker %q, want %q", ch.WorkerID, tc.worker)
				}
			}
			if got != tc.want {
				t.Fatalf("WorkerLeft = %q\nwant         %q", got, tc.want)
			}
		})
	}
}

func TestAnExecutionPlacedAgainWaitsWithoutAWorker(t *testing.T) {
	t.Parallel()
	events := append(walk(execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: id, WorkerID: "w1", Runtime: "python3"},
		changed(execution.Scheduling, execution.Scheduled),
		execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Scheduled, To: execution.Scheduling, WorkerID: "w1", Reason: "worker w1 left"},
	)
	x, err := execution.FromEvents(events)
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	if x.Status() != execution.Scheduling || x.WorkerID() != "" || x.Runtime() != "" || x.Placements() != 1 {
		t.Fatalf("status %s, worker %q, runtime %q, placements %d; want scheduling, no worker, no runtime, 1 placement",
			x.Status(), x.WorkerID(), x.Runtime(), x.Placements())
	}
}

func TestACancelNamesTheWorkerRunningTheExecution(t *testing.T) {
	t.Parallel()
	x, err := execution.FromEvents([]event.Event{
		requested(),
		changed(execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: id, WorkerID: "worker-a", Runtime: "shell"},
		changed(execution.Scheduling, execution.Scheduled),
		changed(execution.Scheduled, execution.Running),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := x.Transition(execution.Canceling, execution.Outcome{Reason: "cancel requested by alice"})
	if err != nil {
		t.Fatal(err)
	}
	parent := requested().ParentID
	want := execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Running, To: execution.Canceling,
		Reason: "cancel requested by alice", WorkerID: "worker-a", ParentID: &parent}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decided\n %+v\nwant\n %+v", got, want)
	}
	// A workflow runs on no worker: its cancel names none.
	wf, err := execution.FromEvents(walk(execution.Running))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := wf.Transition(execution.Canceling, execution.Outcome{}); err != nil || got.WorkerID != "" {
		t.Fatalf("a workflow's cancel = %+v, %v; want no worker", got, err)
	}
}

func TestAChangeNamingAnotherParentIsRefused(t *testing.T) {
	t.Parallel()
	other, top := "01JQ3V5E8G7ZKX2N4P6R8T0W39", ""
	for _, parent := range []*string{&other, &top} {
		ch := changed(execution.Requested, execution.Scheduling)
		ch.ParentID = parent
		if _, err := execution.FromEvents([]event.Event{requested(), ch}); err == nil || !strings.Contains(err.Error(), "parent") {
			t.Errorf("a change naming parent %q folded (err %v); want it refused", *parent, err)
		}
	}
	// A change recorded before the field existed names none: it folds.
	if _, err := execution.FromEvents([]event.Event{requested(), changed(execution.Requested, execution.Scheduling)}); err != nil {
		t.Errorf("a change without parent_id: %v", err)
	}
}
