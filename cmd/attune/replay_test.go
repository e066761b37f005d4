package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/executions"
)

// readModelTables are the tables every projection writes, copied to freeze a live system.
var readModelTables = []string{"executions", "streams", "packs", "pack_components", "trigger_events", "enforcements", "workers", "causality"}

type replaySetup struct {
	live  *pgtest.Schema
	store *pgstore.Store
	db    *readmodel.DB
}

func setupReplay(t *testing.T) replaySetup {
	t.Helper()
	s := pgtest.New(t)
	store, err := pgstore.New(context.Background(), s.Pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return replaySetup{live: s, store: store, db: readmodel.New(s.Pool)}
}

// project brings every live projection up to the head of the log, as the server's projectors
// do, and returns that head.
func (r replaySetup) project(t *testing.T, events int) eventstore.Position {
	t.Helper()
	waitVisible(t, r.store, events)
	batch, err := r.store.ReadAll(context.Background(), eventstore.Start, events+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != events {
		t.Fatalf("log holds %d events, want %d", len(batch), events)
	}
	head := batch[len(batch)-1].Position
	for _, p := range projections.All() {
		if _, err := projections.CatchUp(context.Background(), r.store, r.db, p, head); err != nil {
			t.Fatal(err)
		}
	}
	return head
}

// complete appends running→completed to an execution written by appendExecution.
func complete(t *testing.T, store eventstore.Store, id string) {
	t.Helper()
	e, err := eventstore.NewProposed(execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Running, To: execution.Completed},
		event.Metadata{CorrelationID: id, CausationID: "worker-1", Actor: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), execution.StreamID(id), eventstore.Exact(2), e); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, db *readmodel.DB, id string) execution.Status {
	t.Helper()
	x, err := db.GetExecution(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return x.Status
}

func TestReplayAtAPositionEqualsTheLiveModelsOfASystemStoppedThere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := setupReplay(t)
	first, _ := appendExecution(t, r.store, "alice")
	appendExecution(t, r.store, "bob")
	appendExecution(t, r.store, "carol")
	p := r.project(t, 6)

	// The system stops at P: freeze a copy of its read models.
	stopped := pgtest.New(t)
	for _, tb := range readModelTables {
		sql := fmt.Sprintf("INSERT INTO %s SELECT * FROM %s",
			pgx.Identifier{stopped.Name, tb}.Sanitize(), pgx.Identifier{r.live.Name, tb}.Sanitize())
		if _, err := r.live.Pool.Exec(ctx, sql); err != nil {
			t.Fatalf("freeze %s: %v", tb, err)
		}
	}
	// It goes on: a new execution, and alice's completes.
	appendExecution(t, r.store, "dave")
	complete(t, r.store, first)
	r.project(t, 9)
	if got := status(t, r.db, first); got != execution.Completed {
		t.Fatalf("live status of %s = %s, want completed", first, got)
	}

	target := pgtest.NewEmpty(t) // replay migrates it
	out, _, err := attune(t, "replay", "--schema", r.live.Name, "--until", p.String(), "--into", target.Name)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if !strings.Contains(out, "built projection:executions up to position "+p.String()) {
		t.Errorf("replay output does not report executions built up to %s:\n%s", p, out)
	}
	replayed, frozen := readmodel.New(target.Pool), readmodel.New(stopped.Pool)
	for _, proj := range projections.All() {
		d, n, err := readmodel.Compare(ctx, replayed, frozen, proj.Name)
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			t.Errorf("%s replayed at %s differs from the system stopped there: %s", proj.Name, p, d)
		}
		if proj.Name == projections.Executions.Name && n != 3 {
			t.Errorf("replayed executions hold %d rows, want the 3 of position %s", n, p)
		}
	}
	if got := status(t, replayed, first); got != execution.Running {
		t.Errorf("replayed status of %s = %s, want running as it was at %s", first, got, p)
	}

	// The same target cannot be taken back before what it holds, nor be the live schema.
	_, _, err = attune(t, "replay", "--schema", r.live.Name, "--until", "0-1", "--target-schema", target.Name)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "beyond") {
		t.Errorf("replay to an earlier point into a built schema: err %v, want a refusal (exit 2)", err)
	}
	_, _, err = attune(t, "replay", "--schema", r.live.Name, "--until", "head", "--into", r.live.Name)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "live schema") {
		t.Errorf("replay into the live schema: err %v, want a refusal (exit 2)", err)
	}
}

func TestReplayUntilATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := setupReplay(t)
	a, _ := appendExecution(t, r.store, "alice")
	b, _ := appendExecution(t, r.store, "bob")
	waitVisible(t, r.store, 4)
	log, err := r.store.ReadAll(ctx, eventstore.Start, 5)
	if err != nil {
		t.Fatal(err)
	}
	cut := log[3].RecordedAt
	for time.Now().Before(cut.Add(time.Millisecond)) { // later events must be recorded after the cut
		time.Sleep(time.Millisecond)
	}
	later, _ := appendExecution(t, r.store, "carol")
	complete(t, r.store, a)
	waitVisible(t, r.store, 7)

	target := pgtest.NewEmpty(t)
	out, _, err := attune(t, "replay", "--schema", r.live.Name, "--until", cut.Format(time.RFC3339Nano), "--into", target.Name)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if !strings.Contains(out, "up to position "+log[3].Position.String()) {
		t.Errorf("replay output does not name position %s of the last event at %s:\n%s", log[3].Position, cut, out)
	}
	page, err := readmodel.New(target.Pool).ListExecutions(ctx, executions.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range page.Items {
		got = append(got, x.ID+" "+string(x.Status))
	}
	want := []string{b + " running", a + " running"} // newest first
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("executions as of %s = %v, want %v (not %s, recorded later)", cut, got, want, later)
	}

	// Before the first event, the read models are empty rather than the whole log.
	empty := pgtest.NewEmpty(t)
	out, _, err = attune(t, "replay", "--schema", r.live.Name, "--until", log[0].RecordedAt.Add(-time.Hour).Format(time.RFC3339), "--into", empty.Name)
	if err != nil || !strings.Contains(out, "empty") {
		t.Fatalf("replay before the first event: %v\n%s", err, out)
	}
	page, err = readmodel.New(empty.Pool).ListExecutions(ctx, executions.Filter{})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("executions before the first event: %d rows, err %v; want none", len(page.Items), err)
	}
}

func TestAuditVerifyComparesEveryProjectionWithARebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := setupReplay(t)
	appendExecution(t, r.store, "alice")
	tampered, _ := appendExecution(t, r.store, "bob")
	r.project(t, 4)

	out, _, err := attune(t, "audit", "verify", "--schema", r.live.Name)
	if err != nil {
		t.Fatalf("verify of a healthy system: %v\n%s", err, out)
	}
	for _, p := range projections.All() {
		if !strings.Contains(out, "equal: "+p.Name+" (") {
			t.Errorf("verify output does not report %s equal:\n%s", p.Name, out)
		}
	}
	if !strings.Contains(out, "equal: projection:executions (2 rows") {
		t.Errorf("verify did not compare the 2 execution rows:\n%s", out)
	}

	// An insider edits the read model instead of the log.
	tag, err := r.live.Pool.Exec(ctx, `UPDATE executions SET status = 'completed' WHERE id = $1`, tampered)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v (%d rows)", err, tag.RowsAffected())
	}
	out, _, err = attune(t, "audit", "verify", "--schema", r.live.Name)
	if err == nil || exitCode(err) != 3 || !strings.Contains(err.Error(), "projection:executions") {
		t.Fatalf("verify of a tampered read model: err %v (exit %d), want exit 3 naming projection:executions\n%s", err, exitCode(err), out)
	}
	if !strings.Contains(out, "DIFFERS: projection:executions") || !strings.Contains(out, tampered) {
		t.Errorf("verify output does not name the projection and the row of %s:\n%s", tampered, out)
	}
	if !strings.Contains(out, "equal: projection:streams") {
		t.Errorf("verify blamed untouched projections too:\n%s", out)
	}
	out, _, err = attune(t, "audit", "verify", "--schema", r.live.Name, "--skip-projections")
	if err != nil || strings.Contains(out, "DIFFERS") {
		t.Errorf("verify --skip-projections: err %v, output %q; want the hash chains only", err, out)
	}
}
