package executions_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

func TestCursorRoundTrips(t *testing.T) {
	t.Parallel()
	x := executions.Execution{ID: "01JABC", CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)}
	key, ok, err := executions.ParseCursor(executions.Cursor(x))
	if err != nil || !ok {
		t.Fatalf("parse a cursor made by Cursor: ok=%v err=%v", ok, err)
	}
	if !key.CreatedAt.Equal(x.CreatedAt) || key.ID != x.ID {
		t.Errorf("cursor key = %v %s, want %v %s", key.CreatedAt, key.ID, x.CreatedAt, x.ID)
	}
}

func TestFilterValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	now := time.Now()
	f := executions.Filter{
		Status: []execution.Status{"runnin"},
		Limit:  executions.MaxLimit + 1,
		Since:  now, Until: now.Add(-time.Hour),
		Cursor: "not a cursor!",
	}
	err := f.Validate()
	if err == nil {
		t.Fatal("a filter with four problems is valid")
	}
	for _, want := range []string{`"runnin"`, "limit 1001", "is not before", "cursor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if err := (executions.Filter{}).Validate(); err != nil {
		t.Errorf("the empty filter: %v", err)
	}
}
