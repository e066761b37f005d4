package execution_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/attune-go/attune/domain/execution"
)

// designTable is design §2's transition table, copied row by row (not derived from the code
// under test): from → the only statuses it may go to.
var designTable = []struct{ from, to string }{
	{"requested", "delayed scheduling running pending failed cancelled"},
	{"delayed", "scheduling failed cancelled"},
	{"scheduling", "scheduled failed cancelled"},
	{"scheduled", "running scheduling cancelled abandoned"}, // scheduling: its worker left before it started
	{"running", "completed failed timeout canceling pausing paused abandoned"},
	{"pending", "completed failed timeout cancelled"},                          // an inquiry waiting for its answer
	{"pausing", "paused running canceling completed failed timeout abandoned"}, // a workflow letting its running tasks finish
	{"paused", "running canceling cancelled failed timeout"},                   // resumed, cancelled, or its deadline
	{"canceling", "cancelled completed failed timeout abandoned"},
	{"completed", ""},
	{"failed", ""},
	{"timeout", ""},
	{"cancelled", ""},
	{"abandoned", ""},
}

func TestEveryPairOfStatusesFollowsTheDesignTable(t *testing.T) {
	t.Parallel()
	var names []string
	for _, row := range designTable {
		names = append(names, row.from)
	}
	var defined []string
	for _, s := range execution.Statuses {
		defined = append(defined, string(s))
	}
	if !slices.Equal(defined, names) {
		t.Fatalf("the code defines statuses %v, the design %v", defined, names)
	}
	pairs := 0
	for _, row := range designTable {
		allowed := strings.Fields(row.to)
		for _, toName := range names {
			pairs++
			from, to := mustParse(t, row.from), mustParse(t, toName)
			want := slices.Contains(allowed, toName)
			if got := execution.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %t, design says %t", from, to, got, want)
			}
			err := execution.CheckTransition(from, to)
			if want {
				if err != nil {
					t.Errorf("CheckTransition(%s, %s) = %v, design allows it", from, to, err)
				}
				continue
			}
			var te *execution.TransitionError
			if !errors.As(err, &te) || te.From != from || te.To != to {
				t.Errorf("CheckTransition(%s, %s) = %v, want *TransitionError{%s, %s}", from, to, err, from, to)
			}
		}
	}
	if pairs != 14*14 {
		t.Fatalf("checked %d pairs, want 196", pairs)
	}
}

func TestTerminalStatusesAreExactlyTheFiveWithNoWayOut(t *testing.T) {
	t.Parallel()
	terminal := []string{"completed", "failed", "timeout", "cancelled", "abandoned"}
	for _, row := range designTable {
		s := mustParse(t, row.from)
		if got, want := s.Terminal(), slices.Contains(terminal, row.from); got != want {
			t.Errorf("%s.Terminal() = %t, want %t", s, got, want)
		}
	}
}

func TestParseStatusRejectsUnknownNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Running", "RUNNING", " running", "cancelling", "canceled", "succeeded", "done"} {
		if s, err := execution.ParseStatus(name); err == nil {
			t.Errorf("ParseStatus(%q) = %q, want an error", name, s)
		}
	}
}

func mustParse(t *testing.T, name string) execution.Status {
	t.Helper()
	s, err := execution.ParseStatus(name)
	if err != nil {
		t.Fatalf("ParseStatus(%q): %v", name, err)
	}
	if string(s) != name {
		t.Fatalf("ParseStatus(%q) = %q", name, s)
	}
	return s
}
