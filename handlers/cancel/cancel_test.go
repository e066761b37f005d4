package cancel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/cancel"
)

// given writes an execution that went through the statuses listed.
func given(t *testing.T, store eventstore.Store, path ...execution.Status) string {
	t.Helper()
	id := ulid.Make().String()
	var ps []eventstore.Proposed
	req, _ := eventstore.NewProposed(execution.ExecutionRequested{ExecutionID: id, Action: "core.sleep", RunnerType: "builtin"}, event.Metadata{})
	ps = append(ps, req)
	from := execution.Requested
	for _, to := range path {
		p, _ := eventstore.NewProposed(execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}, event.Metadata{})
		ps = append(ps, p)
		from = to
	}
	if _, err := store.Append(context.Background(), execution.StreamID(id), eventstore.NoStream, ps...); err != nil {
		t.Fatal(err)
	}
	return id
}

func lastChange(t *testing.T, store eventstore.Store, id string) execution.ExecutionStatusChanged {
	t.Helper()
	rs, _ := store.ReadStream(context.Background(), execution.StreamID(id))
	e, err := rs[len(rs)-1].Decode()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := e.(*execution.ExecutionStatusChanged)
	if !ok {
		t.Fatalf("last event is %T", e)
	}
	return *c
}

func TestCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		path    []execution.Status
		want    execution.Status
		appends bool
		err     bool
	}{
		{"requested is cancelled at once", nil, execution.Cancelled, true, false},
		{"waiting for a worker is cancelled at once", []execution.Status{execution.Scheduling}, execution.Cancelled, true, false},
		{"scheduled is cancelled at once", []execution.Status{execution.Scheduling, execution.Scheduled}, execution.Cancelled, true, false},
		{"running asks its worker", []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running}, execution.Canceling, true, false},
		{"canceling again is a no-op", []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running, execution.Canceling}, execution.Canceling, false, false},
		{"a pending inquiry is cancelled at once", []execution.Status{execution.Pending}, execution.Cancelled, true, false},
		{"a pausing workflow goes canceling", []execution.Status{execution.Running, execution.Pausing}, execution.Canceling, true, false},
		{"a paused workflow goes canceling", []execution.Status{execution.Running, execution.Paused}, execution.Canceling, true, false},
		{"completed cannot be cancelled", []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running, execution.Completed}, execution.Completed, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := memstore.New(memstore.Config{})
			id := given(t, store, tc.path...)
			before, _ := store.ReadStream(context.Background(), execution.StreamID(id))
			got, err := cancel.Cancel(context.Background(), store, id, "alice")
			var fin *cancel.FinishedError
			if tc.err != errors.As(err, &fin) {
				t.Fatalf("err = %v, want finished error: %v", err, tc.err)
			}
			if !tc.err && err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("status = %s, want %s", got, tc.want)
			}
			after, _ := store.ReadStream(context.Background(), execution.StreamID(id))
			if appended := len(after) > len(before); appended != tc.appends {
				t.Fatalf("appended = %v, want %v", appended, tc.appends)
			}
			if tc.appends {
				c := lastChange(t, store, id)
				if c.To != tc.want || c.Reason != "cancel requested by alice" || after[len(after)-1].Metadata.Actor != "alice" {
					t.Errorf("appended %+v (actor %q)", c, after[len(after)-1].Metadata.Actor)
				}
			}
		})
	}
}

func TestCancelUnknownExecution(t *testing.T) {
	t.Parallel()
	_, err := cancel.Cancel(context.Background(), memstore.New(memstore.Config{}), ulid.Make().String(), "alice")
	if !errors.Is(err, cancel.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
