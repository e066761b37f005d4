package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/streams"
)

type bundle struct {
	schema *pgtest.Schema
}

func setup(t *testing.T) (*readmodel.DB, bundle) {
	t.Helper()
	s := pgtest.New(t)
	return readmodel.New(s.Pool), bundle{schema: s}
}

func pos(n uint64) eventstore.Position { return eventstore.Position{Major: 7, Minor: n} }

// save writes rows as a projection batch would: in an Update moving the checkpoint.
func save(t *testing.T, db *readmodel.DB, from, to eventstore.Position, xs ...executions.Execution) {
	t.Helper()
	err := db.Update(context.Background(), executions.Name, from, to, func(tx projections.Tx) error {
		return tx.SaveExecutions(context.Background(), xs)
	})
	if err != nil {
		t.Fatalf("save %d executions: %v", len(xs), err)
	}
}

func TestExecutionRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	code := 3
	full := executions.Execution{
		ID: "01JFULL", Action: "core.local", RunnerType: "shell", Status: execution.Failed,
		Parameters: json.RawMessage(`{"cmd": "false"}`), Result: json.RawMessage(`{"error": "boom"}`),
		ExitCode: &code, Reason: "exit status 3", Stdout: "out\n", Stderr: "err\n", OutputTruncated: true,
		Parent: "01JPARENT", WorkflowTask: "t1", Enforcement: "e1", Rule: "examples.r", Trigger: "examples.t",
		TriggerEvent: "ev1", RerunOf: "01JOLD", RetryOf: "01JOLDER", Worker: "w1", Runtime: "shell", TraceTag: "tag",
		CreatedAt: at, StartedAt: at.Add(time.Second), FinishedAt: at.Add(2 * time.Second), UpdatedAt: at.Add(2 * time.Second),
		Version: 6, Position: pos(42),
	}
	sparse := executions.Execution{ID: "01JSPARSE", Action: "core.noop", Status: execution.Requested, CreatedAt: at, UpdatedAt: at, Version: 1, Position: pos(1)}
	save(t, db, eventstore.Start, pos(42), full, sparse)

	for _, want := range []executions.Execution{full, sparse} {
		got, err := db.GetExecution(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("get %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	var loaded map[string]executions.Execution
	err := db.Update(ctx, executions.Name, pos(42), pos(43), func(tx projections.Tx) (err error) {
		loaded, err = tx.LoadExecutions(ctx, []string{full.ID, "01JABSENT"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || !reflect.DeepEqual(loaded[full.ID], full) {
		t.Errorf("load [full, absent] = %+v, want only the full row, equal", loaded)
	}
	if _, err := db.GetExecution(ctx, "01JABSENT"); !errors.Is(err, executions.ErrNotFound) {
		t.Errorf("get an absent execution: err = %v, want ErrNotFound", err)
	}
}

func TestUpdateMovesTheCheckpointOnlyFromWhereTheBatchStarted(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	row := func(id string) executions.Execution {
		return executions.Execution{ID: id, Action: "core.echo", Status: execution.Requested, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	}
	save(t, db, eventstore.Start, pos(10), row("a"))

	for _, tc := range []struct {
		name string
		from eventstore.Position
	}{
		{"a second first batch", eventstore.Start},
		{"a batch from a stale cursor", pos(5)},
	} {
		err := db.Update(ctx, executions.Name, tc.from, pos(20), func(tx projections.Tx) error {
			return tx.SaveExecutions(ctx, []executions.Execution{row("intruder")})
		})
		if !errors.Is(err, projections.ErrCheckpointMoved) {
			t.Errorf("%s: err = %v, want ErrCheckpointMoved", tc.name, err)
		}
	}
	if _, err := db.GetExecution(ctx, "intruder"); !errors.Is(err, executions.ErrNotFound) {
		t.Errorf("a refused batch left its row behind: %v", err)
	}
	if cp, err := db.Checkpoint(ctx, executions.Name); err != nil || cp != pos(10) {
		t.Errorf("checkpoint = %v, %v; want %v", cp, err, pos(10))
	}
	// A failing projection rolls the checkpoint back with its rows.
	boom := errors.New("boom")
	err := db.Update(ctx, executions.Name, pos(10), pos(11), func(tx projections.Tx) error {
		if err := tx.SaveExecutions(ctx, []executions.Execution{row("b")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update whose fn fails: err = %v", err)
	}
	if cp, _ := db.Checkpoint(ctx, executions.Name); cp != pos(10) {
		t.Errorf("checkpoint after a failed batch = %v, want %v", cp, pos(10))
	}
	if _, err := db.GetExecution(ctx, "b"); !errors.Is(err, executions.ErrNotFound) {
		t.Errorf("a failed batch left its row behind: %v", err)
	}
}

func TestResetEmptiesOnlyItsProjection(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Now()
	save(t, db, eventstore.Start, pos(3), executions.Execution{ID: "a", Action: "x", Status: execution.Requested, CreatedAt: at, UpdatedAt: at})
	err := db.Update(ctx, streams.Name, eventstore.Start, pos(3), func(tx projections.Tx) error {
		return tx.SaveStreams(ctx, []streams.Stream{{ID: "execution-a", Category: "execution", Version: 1, EventCount: 1, FirstType: "T", LastType: "T", CreatedAt: at, UpdatedAt: at}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Reset(ctx, executions.Name); err != nil {
		t.Fatal(err)
	}
	if page, _ := db.ListExecutions(ctx, executions.Filter{}); len(page.Items) != 0 {
		t.Errorf("executions after reset: %d rows", len(page.Items))
	}
	if cp, _ := db.Checkpoint(ctx, executions.Name); cp != eventstore.Start {
		t.Errorf("executions checkpoint after reset = %v, want start", cp)
	}
	if page, _ := db.ListStreams(ctx, streams.Filter{}); len(page.Items) != 1 {
		t.Errorf("streams after resetting executions: %d rows, want 1", len(page.Items))
	}
	if cp, _ := db.Checkpoint(ctx, streams.Name); cp != pos(3) {
		t.Errorf("streams checkpoint after resetting executions = %v, want %v", cp, pos(3))
	}
	if err := db.Reset(ctx, "projection:nope"); err == nil {
		t.Error("reset of an unknown projection succeeded")
	}
}

func TestListStreamsByCategoryInPages(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Now()
	var rows []streams.Stream
	for i := range 5 {
		for _, c := range []string{"execution", "rule"} {
			id := fmt.Sprintf("%s-%02d", c, i)
			rows = append(rows, streams.Stream{ID: id, Category: c, Version: 1, EventCount: 1, FirstType: "T", LastType: "T", CreatedAt: at, UpdatedAt: at})
		}
	}
	err := db.Update(ctx, streams.Name, eventstore.Start, pos(1), func(tx projections.Tx) error { return tx.SaveStreams(ctx, rows) })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	f := streams.Filter{Category: "rule", Limit: 2}
	for pages := 0; ; pages++ {
		page, err := db.ListStreams(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Items {
			got = append(got, s.ID)
		}
		if page.Next == "" {
			if pages != 2 {
				t.Errorf("5 streams in pages of 2 took %d pages, want 3", pages+1)
			}
			break
		}
		f.Cursor = page.Next
	}
	if want := []string{"rule-00", "rule-01", "rule-02", "rule-03", "rule-04"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rule streams = %v, want %v", got, want)
	}
}
