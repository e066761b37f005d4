// Package workflowdef parses, validates and compiles a workflow definition (the graph a
// runner_type workflow action registers in pack.Action.Workflow) and evaluates its {{ }}
// templates for the workflow engine. The format is Orquesta's shape: tasks with action,
// input, ordered next transitions (when, publish, do), join, with-items, retry, timeout and
// delay; vars; output.
package workflowdef

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
)

// Workflow is a compiled, validated definition.
type Workflow struct {
	tasks  map[string]*Task
	start  []string
	vars   *ruleeval.Template
	output *ruleeval.Template
}

// Task is one node of the graph.
type Task struct {
	Name   string
	Action string
	// Join is how many inbound transitions the task waits for before it runs: 0 runs it on
	// each one (no join); `join: all` resolves to the number of tasks with a transition to it.
	Join        int
	Concurrency int // with-items window; 0 means every item at once
	Retry       Retry
	Timeout     time.Duration
	Delay       time.Duration
	Next        []Transition

	input *ruleeval.Template
	items *ruleeval.Template // nil unless with-items
}

// Retry is a task's retry clause: Count more attempts after a failure, Delay before the
// first of them, growing by Backoff.
type Retry struct {
	Count   int
	Delay   time.Duration
	Backoff string // constant (default), linear, exponential
}

// Backoffs are the accepted retry backoffs.
var Backoffs = []string{"constant", "linear", "exponential"}

// After is how long to wait before attempt (2, 3 …).
func (r Retry) After(attempt int) time.Duration {
	n := max(attempt-1, 1) // the retry number: 1 for attempt 2
	switch r.Backoff {
	case "linear":
		return scale(r.Delay, int64(n))
	case "exponential":
		return scale(r.Delay, 1<<min(n-1, 30))
	}
	return r.Delay
}

// scale is d*n, saturated: a long delay times many retries must not wrap round to a
// negative wait (found by FuzzParse).
func scale(d time.Duration, n int64) time.Duration {
	if d > 0 && n > int64(math.MaxInt64/d) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

// Transition is one entry of a task's next list.
type Transition struct {
	Do      []string
	when    *ruleeval.Template // nil: always
	publish *ruleeval.Template // nil: nothing
}

// WithItems reports whether the task runs once per item.
func (t *Task) WithItems() bool { return t.items != nil }

// Task returns the task called name.
func (w *Workflow) Task(name string) (*Task, bool) {
	t, ok := w.tasks[name]
	return t, ok
}

// Start lists the tasks no transition leads to, sorted: they run first.
func (w *Workflow) Start() []string { return slices.Clone(w.start) }

// Tasks lists every task name, sorted.
func (w *Workflow) Tasks() []string { return slices.Sorted(maps.Keys(w.tasks)) }

// The definition as written.
type rawDefinition struct {
	Version any                `json:"version"`
	Vars    json.RawMessage    `json:"vars"`
	Tasks   map[string]rawTask `json:"tasks"`
	Output  json.RawMessage    `json:"output"`
}

type rawTask struct {
	Action  string          `json:"action"`
	Input   json.RawMessage `json:"input"`
	Next    []rawTransition `json:"next"`
	Join    json.RawMessage `json:"join"`
	With    json.RawMessage `json:"with"`
	Retry   *rawRetry       `json:"retry"`
	Timeout float64         `json:"timeout"`
	Delay   float64         `json:"delay"`
}

type rawTransition struct {
	When    string          `json:"when"`
	Publish json.RawMessage `json:"publish"`
	Do      json.RawMessage `json:"do"`
}

type rawRetry struct {
	Count   int     `json:"count"`
	Delay   float64 `json:"delay"`
	Backoff string  `json:"backoff"`
}

type rawWith struct {
	Items       string `json:"items"`
	Concurrency int    `json:"concurrency"`
}

// Parse decodes, validates and compiles a definition. Its error joins every problem found,
// each located by a path (tasks.deploy.next[0].do).
func Parse(raw json.RawMessage) (*Workflow, error) {
	var d rawDefinition
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("decode workflow definition: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	compile := func(raw json.RawMessage, env map[string]any, path ...string) *ruleeval.Template {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		t, err := ruleeval.CompileTemplateIn(raw, env, path...)
		if err != nil {
			errs = append(errs, err)
		}
		return t
	}
	if len(d.Tasks) == 0 {
		bad("tasks: a workflow needs at least one task")
	}
	w := &Workflow{tasks: map[string]*Task{}}
	w.vars = compile(d.Vars, compileEnv, "vars")
	w.output = compile(d.Output, compileEnv, "output")
	inbound := map[string]map[string]bool{} // task → tasks with a transition to it
	for _, name := range slices.Sorted(maps.Keys(d.Tasks)) {
		rt := d.Tasks[name]
		at := "tasks." + name
		t := &Task{
			Name:    name,
			Action:  rt.Action,
			Timeout: seconds(rt.Timeout),
			Delay:   seconds(rt.Delay),
		}
		if rt.Action == "" {
			bad("%s.action: missing", at)
		}
		if rt.Timeout < 0 || rt.Delay < 0 {
			bad("%s: timeout and delay must not be negative", at)
		}
		if rt.Timeout > maxSeconds || rt.Delay > maxSeconds {
			bad("%s: timeout and delay must be at most %d seconds (a year)", at, maxSeconds)
		}
		t.input = compile(rt.Input, compileEnv, at, "input")
		if rt.Retry != nil {
			t.Retry = Retry{Count: rt.Retry.Count, Delay: seconds(rt.Retry.Delay), Backoff: rt.Retry.Backoff}
			if rt.Retry.Count < 0 || rt.Retry.Delay < 0 {
				bad("%s.retry: count and delay must not be negative", at)
			}
			if rt.Retry.Delay > maxSeconds {
				bad("%s.retry.delay: must be at most %d seconds (a year)", at, maxSeconds)
			}
			if rt.Retry.Backoff != "" && !slices.Contains(Backoffs, rt.Retry.Backoff) {
				bad("%s.retry.backoff: unknown backoff %q (want one of %v)", at, rt.Retry.Backoff, Backoffs)
			}
		}
		if len(rt.With) > 0 && string(rt.With) != "null" {
			var with rawWith
			var items string
			if err := json.Unmarshal(rt.With, &items); err == nil {
				with.Items = items
			} else if err := json.Unmarshal(rt.With, &with); err != nil {
				bad("%s.with: want {items, concurrency} or an items expression: %v", at, err)
			}
			if strings.TrimSpace(with.Items) == "" {
				bad("%s.with.items: missing", at)
			} else {
				src, _ := json.Marshal(with.Items)
				t.items = compile(src, compileEnv, at, "with", "items")
			}
			if with.Concurrency < 0 {
				bad("%s.with.concurrency: must not be negative", at)
			}
			t.Concurrency = with.Concurrency
		}
		for i, rtr := range rt.Next {
			tat := fmt.Sprintf("%s.next[%d]", at, i)
			tr := Transition{}
			if rtr.When != "" {
				src, _ := json.Marshal(rtr.When)
				tr.when = compile(src, compileEnv, tat, "when")
			}
			tr.publish = compile(rtr.Publish, compileEnv, tat, "publish")
			do, err := targets(rtr.Do)
			if err != nil {
				bad("%s.do: %v", tat, err)
			}
			for _, target := range do {
				if _, ok := d.Tasks[target]; !ok {
					bad("%s.do: unknown task %q", tat, target)
					continue
				}
				if inbound[target] == nil {
					inbound[target] = map[string]bool{}
				}
				inbound[target][name] = true
			}
			tr.Do = do
			t.Next = append(t.Next, tr)
		}
		w.tasks[name] = t
	}
	for _, name := range slices.Sorted(maps.Keys(d.Tasks)) {
		t := w.tasks[name]
		join, err := parseJoin(d.Tasks[name].Join, len(inbound[name]))
		if err != nil {
			bad("tasks.%s.join: %v", name, err)
		}
		t.Join = join
		if len(inbound[name]) == 0 {
			w.start = append(w.start, name)
		}
	}
	if len(d.Tasks) > 0 && len(w.start) == 0 {
		bad("tasks: no start task (every task has an inbound transition)")
	}
	for _, name := range w.unreachable() {
		bad("tasks.%s: no path from a start task reaches it", name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// targets accepts do as a list of task names or one name.
func targets(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a task name or a list of them")
	}
	return list, nil
}

// parseJoin accepts all or a count from 1 to the number of inbound tasks.
func parseJoin(raw json.RawMessage, inbound int) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "all" {
			return inbound, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("want all or a number, got %q", s)
		}
		return checkJoin(n, inbound)
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("want all or a number, got %s", raw)
	}
	return checkJoin(n, inbound)
}

func checkJoin(n, inbound int) (int, error) {
	if n < 1 || n > inbound {
		return 0, fmt.Errorf("join %d, but %d tasks lead to it", n, inbound)
	}
	return n, nil
}

func (w *Workflow) unreachable() []string {
	seen := map[string]bool{}
	queue := slices.Clone(w.start)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] || w.tasks[name] == nil { // an unknown target is reported on its own
			continue
		}
		seen[name] = true
		for _, tr := range w.tasks[name].Next {
			queue = append(queue, tr.Do...)
		}
	}
	var out []string
	for _, name := range w.Tasks() {
		if !seen[name] {
			out = append(out, name)
		}
	}
	return out
}

// maxSeconds bounds timeouts and delays: far above any real workflow, and far below what
// overflows a time.Duration (1e300 seconds once became a negative timeout).
const maxSeconds = 365 * 24 * 60 * 60

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
