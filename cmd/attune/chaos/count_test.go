package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// tally is one scenario's row of the report, counted from the action's side effects (the
// marks file) and the read model the API serves.
type tally struct {
	scenario        string
	needs           string
	requested       int // tokens the scenario expected to run
	acknowledged    int // of them, acknowledged by the API (directly or as a workflow's item)
	ran             int // distinct tokens in the marks file
	neverRan        int // acknowledged, never ran, and no true reason recorded
	endedWithReason int // acknowledged, never ran, ended failed/timeout/cancelled with a reason, or abandoned after it started
	ranTwice        int // tokens in the marks file more than once
	stuck           int // executions not terminal at the end (or acknowledged and missing from the read model)
	verify          string
	verifyOK        bool
	notes           []string
	problems        []string // extra failures a scenario checks (workflow outcome, /readyz …)
}

func (x *tally) note(format string, args ...any) {
	x.notes = append(x.notes, fmt.Sprintf(format, args...))
}

func (x *tally) problem(format string, args ...any) {
	x.problems = append(x.problems, fmt.Sprintf(format, args...))
}

// count fills the tally. expected maps every token that should run to the execution id the
// API acknowledged for it ("" for a workflow item, found by its token in the read model).
func (x *tally) count(expected map[string]string, requested int, a *acks, marks map[string][]string, rows []row, rowsErr error) {
	x.requested = requested
	x.acknowledged = len(expected)
	byToken := map[string][]row{}
	byID := map[string]row{}
	for _, r := range rows {
		byID[r.id] = r
		if r.token != "" {
			byToken[r.token] = append(byToken[r.token], r)
		}
	}
	sameExec, dupRequest, unacked := 0, 0, 0
	for tok, ids := range marks {
		x.ran++
		if _, ok := expected[tok]; !ok {
			unacked++
		}
		if len(ids) > 1 {
			x.ranTwice++
			distinct := map[string]bool{}
			for _, id := range ids {
				distinct[id] = true
			}
			if len(distinct) < len(ids) {
				sameExec++
			}
			if len(distinct) > 1 {
				dupRequest++
			}
		}
	}
	abandonedUnstarted, ranButAbandoned := 0, 0
	reasons := map[string]int{}
	for tok := range expected {
		if len(marks[tok]) > 0 {
			for _, r := range byToken[tok] {
				if r.status == "abandoned" {
					ranButAbandoned++
				}
			}
			continue
		}
		trueReason := false
		for _, r := range byToken[tok] {
			switch {
			case r.status == "abandoned" && !r.started:
				// Never started on a lost worker: the issue wants it placed again; abandoning
				// it says "may have run" of a thing that provably did not.
				abandonedUnstarted++
			case (r.status == "failed" || r.status == "timeout" || r.status == "cancelled" || r.status == "abandoned") && r.reason != "":
				trueReason = true
				reasons[shorten(r.status+": "+r.reason)]++
			}
		}
		if trueReason {
			x.endedWithReason++
		} else {
			x.neverRan++
		}
	}
	missing := 0
	for _, id := range a.ids {
		if _, ok := byID[id]; !ok {
			missing++
		}
	}
	statuses := map[string]int{}
	for _, r := range rows {
		if !terminal[r.status] {
			x.stuck++
			statuses[r.status]++
		}
	}
	x.stuck += missing
	if rowsErr != nil {
		x.note("read model unreadable at the end: %v", rowsErr)
	}
	if n := requested - len(a.ids); n > 0 && len(a.gaveUp) > 0 {
		x.note("%d requests never acknowledged (e.g. %s)", len(a.gaveUp), firstValue(a.gaveUp))
	}
	if r := a.retries.Load(); r > 0 {
		x.note("%d client retries", r)
	}
	if unacked > 0 {
		x.note("%d tokens ran without an acknowledgement", unacked)
	}
	if sameExec > 0 {
		x.note("%d tokens ran twice under one execution id", sameExec)
	}
	if dupRequest > 0 {
		x.note("%d tokens ran as two executions (a retried request)", dupRequest)
	}
	if abandonedUnstarted > 0 {
		x.note("%d abandoned although never started (counted as never ran)", abandonedUnstarted)
	}
	if ranButAbandoned > 0 {
		x.note("%d ran but are recorded abandoned", ranButAbandoned)
	}
	if len(reasons) > 0 {
		x.note("reasons: %s", joinCounts(reasons))
	}
	if len(statuses) > 0 {
		x.note("stuck in %s", joinCounts(statuses))
	}
	if missing > 0 {
		x.note("%d acknowledged ids missing from the read model", missing)
	}
}

// failures lists why the scenario fails (empty when it holds every promise).
func (x *tally) failures() []string {
	var out []string
	if x.neverRan > 0 {
		out = append(out, fmt.Sprintf("%d acknowledged never ran without a true reason", x.neverRan))
	}
	if x.ranTwice > 0 {
		out = append(out, fmt.Sprintf("%d ran twice", x.ranTwice))
	}
	if x.stuck > 0 {
		out = append(out, fmt.Sprintf("%d stuck", x.stuck))
	}
	if !x.verifyOK {
		out = append(out, "audit verify: "+x.verify)
	}
	if x.acknowledged < x.requested {
		out = append(out, fmt.Sprintf("only %d of %d requests acknowledged", x.acknowledged, x.requested))
	}
	return append(out, x.problems...)
}

func (x *tally) markdown() string {
	verdict := "pass"
	if len(x.failures()) > 0 {
		verdict = "FAIL"
	}
	return fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %d | %s | %s | %s |", x.scenario, verdict,
		x.acknowledged, x.ran, x.neverRan, x.endedWithReason, x.ranTwice, x.stuck, x.verify,
		x.needs, strings.ReplaceAll(strings.Join(append(x.notes, prefixed("FAIL: ", x.problems)...), "; "), "|", "/"))
}

const tableHead = "| scenario | result | acknowledged | ran | never ran | ended with reason | ran twice | stuck | verify | needs | notes |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|"

// report collects the rows of a run and writes chaos-report.md.
type report struct {
	mu   sync.Mutex
	mode string
	rows []string
}

func (r *report) add(x *tally) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, x.markdown())
}

func (r *report) write(t *testing.T, dir string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	body := fmt.Sprintf("# Attune chaos report (%s)\n\n%s\n%s\n", r.mode, tableHead, strings.Join(r.rows, "\n"))
	path := filepath.Join(dir, "chaos-report.md")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("write %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Errorf("write %s: %v", path, err)
		return
	}
	t.Logf("chaos report (%s):\n%s", path, body)
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func firstValue(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return m[keys[0]]
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
