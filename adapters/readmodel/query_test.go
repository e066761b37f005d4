package readmodel_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

// listAll pages through f and returns the ids in the order the pages gave them.
func listAll(t *testing.T, db interface {
	ListExecutions(context.Context, executions.Filter) (executions.Page, error)
}, f executions.Filter) []string {
	t.Helper()
	var ids []string
	for range 100 {
		page, err := db.ListExecutions(context.Background(), f)
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		if len(page.Items) > f.PageSize() {
			t.Fatalf("page of %d items, limit %d", len(page.Items), f.PageSize())
		}
		for _, x := range page.Items {
			ids = append(ids, x.ID)
		}
		if page.Next == "" {
			return ids
		}
		f.Cursor = page.Next
	}
	t.Fatal("more than 100 pages")
	return nil
}

func TestListExecutionsFiltersAndPagesNewestFirst(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// 30 executions; every third pair shares a created_at, so the id must break ties.
	var rows []executions.Execution
	for i := range 30 {
		x := executions.Execution{
			ID:        fmt.Sprintf("x%02d", i),
			Action:    []string{"core.echo", "core.local"}[i%2],
			Status:    []execution.Status{execution.Completed, execution.Failed, execution.Running}[i%3],
			CreatedAt: t0.Add(time.Duration(i/2) * time.Minute),
			Version:   1,
		}
		x.UpdatedAt = x.CreatedAt
		if i%5 == 0 {
			x.Rule, x.Trigger = "examples.r", "examples.t"
		}
		if i >= 20 {
			x.Parent = "x00"
		}
		if i%4 == 0 {
			x.TraceTag = "deploy-1"
		}
		rows = append(rows, x)
	}
	save(t, db, eventstore.Start, pos(1), rows...)

	// want lists the ids matching keep, newest first (created_at desc, id desc).
	want := func(keep func(executions.Execution) bool) []string {
		var ids []string
		for i := len(rows) - 1; i >= 0; i-- {
			if keep(rows[i]) {
				ids = append(ids, rows[i].ID)
			}
		}
		return ids
	}
	tests := []struct {
		name string
		f    executions.Filter
		keep func(executions.Execution) bool
	}{
		{"everything", executions.Filter{}, func(executions.Execution) bool { return true }},
		{"two statuses", executions.Filter{Status: []execution.Status{execution.Failed, execution.Running}},
			func(x executions.Execution) bool { return x.Status != execution.Completed }},
		{"action", executions.Filter{Action: "core.local"}, func(x executions.Execution) bool { return x.Action == "core.local" }},
		{"rule", executions.Filter{Rule: "examples.r"}, func(x executions.Execution) bool { return x.Rule == "examples.r" }},
		{"trigger and status", executions.Filter{Trigger: "examples.t", Status: []execution.Status{execution.Completed}},
			func(x executions.Execution) bool { return x.Trigger == "examples.t" && x.Status == execution.Completed }},
		{"children of a workflow", executions.Filter{Parent: "x00"}, func(x executions.Execution) bool { return x.Parent == "x00" }},
		{"trace tag", executions.Filter{TraceTag: "deploy-1"}, func(x executions.Execution) bool { return x.TraceTag == "deploy-1" }},
		{"time range", executions.Filter{Since: t0.Add(3 * time.Minute), Until: t0.Add(9 * time.Minute)},
			func(x executions.Execution) bool {
				return !x.CreatedAt.Before(t0.Add(3*time.Minute)) && x.CreatedAt.Before(t0.Add(9*time.Minute))
			}},
		{"nothing matches", executions.Filter{Action: "core.nope"}, func(executions.Execution) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := want(tt.keep)
			for _, limit := range []int{0, 1, 4, 7} {
				f := tt.f
				f.Limit = limit
				if got := listAll(t, db, f); !slices.Equal(got, w) {
					t.Errorf("limit %d:\n got %v\nwant %v", limit, got, w)
				}
			}
		})
	}
}

func TestListExecutionsLeavesOutputOutOfPages(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	at := time.Now()
	save(t, db, eventstore.Start, pos(1), executions.Execution{ID: "a", Action: "core.local", Status: execution.Completed,
		Stdout: "lots of output", Stderr: "warnings", CreatedAt: at, UpdatedAt: at})
	page, err := db.ListExecutions(context.Background(), executions.Filter{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("list: %v, %d items", err, len(page.Items))
	}
	if x := page.Items[0]; x.Stdout != "" || x.Stderr != "" {
		t.Errorf("a listed execution carries its output: stdout %q stderr %q", x.Stdout, x.Stderr)
	}
	x, err := db.GetExecution(context.Background(), "a")
	if err != nil || x.Stdout != "lots of output" || x.Stderr != "warnings" {
		t.Errorf("get: %v, stdout %q stderr %q; want the output", err, x.Stdout, x.Stderr)
	}
}

func TestListExecutionsRejectsABadFilter(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	if _, err := db.ListExecutions(context.Background(), executions.Filter{Cursor: "%%%"}); err == nil {
		t.Error("a garbage cursor was accepted")
	}
}
