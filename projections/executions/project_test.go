package executions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

// memStore is executions.Store in a map, counting calls: the projection's rules are tested
// without a database (adapters/readmodel tests the SQL).
type memStore struct {
	rows         map[string]executions.Execution
	loads, saves int
}

func (m *memStore) LoadExecutions(_ context.Context, ids []string) (map[string]executions.Execution, error) {
	m.loads++
	out := map[string]executions.Execution{}
	for _, id := range ids {
		if x, ok := m.rows[id]; ok {
			out[id] = x
		}
	}
	return out, nil
}

func (m *memStore) SaveExecutions(_ context.Context, xs []executions.Execution) error {
	m.saves++
	for _, x := range xs {
		m.rows[x.ID] = x
	}
	return nil
}

// log builds recorded events one minute apart, in order, all on their execution's stream.
type log struct {
	t0       time.Time
	recorded []eventstore.Recorded
	versions map[string]int64
}

func newLog() *log {
	return &log{t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), versions: map[string]int64{}}
}

func (l *log) add(t *testing.T, id string, e event.Event, md event.Metadata) {
	t.Helper()
	p, err := eventstore.NewProposed(e, md)
	if err != nil {
		t.Fatal(err)
	}
	stream := execution.StreamID(id)
	l.versions[stream]++
	n := len(l.recorded) + 1
	l.recorded = append(l.recorded, eventstore.Recorded{
		ID: p.ID, StreamID: stream, StreamVersion: l.versions[stream], Type: p.Type,
		SchemaVersion: p.SchemaVersion, Data: p.Data, Metadata: md,
		RecordedAt: l.t0.Add(time.Duration(n) * time.Minute), Position: eventstore.Position{Minor: uint64(n)},
	})
}

// render is the script a row is compared as: the fields a user reads, minute offsets for times.
func (l *log) render(x executions.Execution) string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("+%dm", int(t.Sub(l.t0).Minutes()))
	}
	code := "-"
	if x.ExitCode != nil {
		code = fmt.Sprint(*x.ExitCode)
	}
	s := fmt.Sprintf("%s action=%s status=%s worker=%s exit=%s created=%s started=%s finished=%s updated=%s v=%d",
		x.ID, x.Action, x.Status, x.Worker, code, at(x.CreatedAt), at(x.StartedAt), at(x.FinishedAt), at(x.UpdatedAt), x.Version)
	for _, f := range []struct{ k, v string }{
		{"reason", x.Reason}, {"result", string(x.Result)}, {"parent", x.Parent}, {"rule", x.Rule}, {"trace", x.TraceTag},
	} {
		if f.v != "" {
			s += " " + f.k + "=" + f.v
		}
	}
	return s
}

func TestApply(t *testing.T) {
	t.Parallel()
	exit := func(c int) *int { return &c }
	md := event.Metadata{TraceTag: "deploy-42"}
	tests := []struct {
		name  string
		given func(t *testing.T, l *log)
		want  string
	}{{
		name: "a completed run has its worker, times and result",
		given: func(t *testing.T, l *log) {
			l.add(t, "a", &execution.ExecutionRequested{ExecutionID: "a", Action: "core.echo", Rule: "examples.r"}, md)
			l.add(t, "a", &execution.ExecutionStatusChanged{ExecutionID: "a", From: execution.Requested, To: execution.Scheduling}, md)
			l.add(t, "a", &execution.ExecutionScheduled{ExecutionID: "a", WorkerID: "w1", Runtime: "shell"}, md)
			l.add(t, "a", &execution.ExecutionStatusChanged{ExecutionID: "a", From: execution.Scheduled, To: execution.Running}, md)
			l.add(t, "a", &execution.ExecutionStatusChanged{ExecutionID: "a", From: execution.Running, To: execution.Completed, Result: json.RawMessage(`{"ok":true}`), ExitCode: exit(0)}, md)
		},
		want: `a action=core.echo status=completed worker=w1 exit=0 created=+1m started=+4m finished=+5m updated=+5m v=5 result={"ok":true} rule=examples.r trace=deploy-42`,
	}, {
		name: "a run that found no worker fails with the reason and never starts",
		given: func(t *testing.T, l *log) {
			l.add(t, "b", &execution.ExecutionRequested{ExecutionID: "b", Action: "core.local", ParentID: "wf"}, event.Metadata{})
			l.add(t, "b", &execution.ExecutionStatusChanged{ExecutionID: "b", From: execution.Requested, To: execution.Scheduling}, event.Metadata{})
			l.add(t, "b", &execution.ExecutionStatusChanged{ExecutionID: "b", From: execution.Scheduling, To: execution.Failed, Reason: "no worker"}, event.Metadata{})
		},
		want: `b action=core.local status=failed worker= exit=- created=+1m started=- finished=+3m updated=+3m v=3 reason=no worker parent=wf`,
	}, {
		name: "a reason given on the way is kept when the terminal transition has none",
		given: func(t *testing.T, l *log) {
			l.add(t, "c", &execution.ExecutionRequested{ExecutionID: "c", Action: "core.sleep"}, event.Metadata{})
			l.add(t, "c", &execution.ExecutionStatusChanged{ExecutionID: "c", From: execution.Requested, To: execution.Delayed, Reason: "concurrency 1 reached"}, event.Metadata{})
			l.add(t, "c", &execution.ExecutionStatusChanged{ExecutionID: "c", From: execution.Delayed, To: execution.Cancelled}, event.Metadata{})
		},
		want: `c action=core.sleep status=cancelled worker= exit=- created=+1m started=- finished=+3m updated=+3m v=3 reason=concurrency 1 reached`,
	}, {
		name: "choosing a worker is the scheduled state",
		given: func(t *testing.T, l *log) {
			l.add(t, "d", &execution.ExecutionRequested{ExecutionID: "d", Action: "core.noop"}, event.Metadata{})
			l.add(t, "d", &execution.ExecutionScheduled{ExecutionID: "d", WorkerID: "w2"}, event.Metadata{})
		},
		want: `d action=core.noop status=scheduled worker=w2 exit=- created=+1m started=- finished=- updated=+2m v=2`,
	}, {
		name: "taken back from a worker that left, it waits without one, then runs on the next",
		given: func(t *testing.T, l *log) {
			l.add(t, "e", &execution.ExecutionRequested{ExecutionID: "e", Action: "core.noop"}, event.Metadata{})
			l.add(t, "e", &execution.ExecutionScheduled{ExecutionID: "e", WorkerID: "w1", Runtime: "shell"}, event.Metadata{})
			l.add(t, "e", &execution.ExecutionStatusChanged{ExecutionID: "e", From: execution.Scheduled, To: execution.Scheduling, WorkerID: "w1", Reason: "worker w1 left"}, event.Metadata{})
		},
		want: `e action=core.noop status=scheduling worker= exit=- created=+1m started=- finished=- updated=+3m v=3 reason=worker w1 left`,
	}, {
		name: "placed again after its worker left",
		given: func(t *testing.T, l *log) {
			l.add(t, "f", &execution.ExecutionRequested{ExecutionID: "f", Action: "core.noop"}, event.Metadata{})
			l.add(t, "f", &execution.ExecutionScheduled{ExecutionID: "f", WorkerID: "w1", Runtime: "shell"}, event.Metadata{})
			l.add(t, "f", &execution.ExecutionStatusChanged{ExecutionID: "f", From: execution.Scheduled, To: execution.Scheduling, WorkerID: "w1", Reason: "worker w1 left"}, event.Metadata{})
			l.add(t, "f", &execution.ExecutionScheduled{ExecutionID: "f", WorkerID: "w2", Runtime: "shell"}, event.Metadata{})
			l.add(t, "f", &execution.ExecutionStatusChanged{ExecutionID: "f", From: execution.Scheduled, To: execution.Running, WorkerID: "w2"}, event.Metadata{})
			l.add(t, "f", &execution.ExecutionStatusChanged{ExecutionID: "f", From: execution.Running, To: execution.Completed, ExitCode: exit(0)}, event.Metadata{})
		},
		want: `f action=core.noop status=completed worker=w2 exit=0 created=+1m started=+5m finished=+6m updated=+6m v=6 reason=worker w1 left`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLog()
			tt.given(t, l)
			// One event per batch and the whole log in one batch must agree: how the runner
			// cuts the log into transactions cannot change the rows.
			for _, size := range []int{1, len(l.recorded)} {
				s := &memStore{rows: map[string]executions.Execution{}}
				for b := range slices.Chunk(l.recorded, size) {
					if err := executions.Apply(context.Background(), s, b); err != nil {
						t.Fatal(err)
					}
				}
				var got []string
				for _, id := range slices.Sorted(maps.Keys(s.rows)) {
					got = append(got, l.render(s.rows[id]))
				}
				if g := strings.Join(got, "\n"); g != tt.want {
					t.Errorf("batches of %d:\n got %s\nwant %s", size, g, tt.want)
				}
			}
		})
	}
}

func TestApplyLoadsAndSavesOncePerBatch(t *testing.T) {
	t.Parallel()
	l := newLog()
	for _, id := range []string{"a", "b", "c"} {
		l.add(t, id, &execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}, event.Metadata{})
		l.add(t, id, &execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Running}, event.Metadata{})
	}
	s := &memStore{rows: map[string]executions.Execution{}}
	if err := executions.Apply(context.Background(), s, l.recorded); err != nil {
		t.Fatal(err)
	}
	if s.loads != 1 || s.saves != 1 || len(s.rows) != 3 {
		t.Errorf("6 events of 3 executions: %d loads, %d saves, %d rows; want 1, 1, 3", s.loads, s.saves, len(s.rows))
	}
}

func TestApplySkipsTypesItDoesNotProject(t *testing.T) {
	t.Parallel()
	// A type the catalogue does not know cannot be decoded: skipping it unread is what lets
	// colleagues add event types without touching this projection.
	other := eventstore.Recorded{ID: ulid.Make(), StreamID: "worker-w1", StreamVersion: 1, Type: "WorkerRegistered",
		Data: json.RawMessage(`{}`), Position: eventstore.Position{Minor: 1}}
	s := &memStore{rows: map[string]executions.Execution{}}
	if err := executions.Apply(context.Background(), s, []eventstore.Recorded{other}); err != nil {
		t.Fatalf("apply a batch of another type: %v", err)
	}
	if s.loads+s.saves != 0 {
		t.Errorf("a batch with nothing to project touched the store: %d loads, %d saves", s.loads, s.saves)
	}
}

func TestApplyRejectsAnUndecodableEvent(t *testing.T) {
	t.Parallel()
	bad := eventstore.Recorded{ID: ulid.Make(), StreamID: "execution-x", StreamVersion: 1, Type: "ExecutionRequested",
		Data: json.RawMessage(`{"execution_id": 7}`), Position: eventstore.Position{Minor: 1}}
	s := &memStore{rows: map[string]executions.Execution{}}
	err := executions.Apply(context.Background(), s, []eventstore.Recorded{bad})
	if err == nil || !strings.Contains(err.Error(), bad.ID.String()) {
		t.Errorf("apply an event whose data does not decode: err = %v, want one naming event %s", err, bad.ID)
	}
}
