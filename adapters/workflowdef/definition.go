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
	vars   expression
	output expression
	// dialect is what the definition was written in: "" for Attune's own, DialectOrquesta or
	// DialectActionChain for StackStorm's (orquesta.go, actionchain.go).
	dialect string
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

	input expression
	items expression // nil unless with-items
	// Orquesta only: the names of `x, y in <% … %>` items, a delay that is an expression,
	// and retry's when (absent: retry a run that did not complete).
	itemKeys    []string
	delay       expression
	retryWhen   expression
	retryCount  expression
	retryDelay  expression
	concurrency expression
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
	when    expression // nil: always
	publish expression // nil: nothing
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

// The keys each level of a definition accepts: anything else is refused, so a misspelt
// field (nxt, with.item) is an error at load, never a silently ignored line.
var (
	definitionKeys = []string{"version", "description", "vars", "tasks", "output"}
	taskKeys       = []string{"action", "description", "input", "next", "join", "with", "retry", "timeout", "delay"}
	transitionKeys = []string{"when", "publish", "do"}
	withKeys       = []string{"items", "concurrency"}
	retryKeys      = []string{"count", "delay", "backoff"}
)

// shapes checks the shape of a definition as written, gathering every problem located by
// its path.
type shapes struct{ errs []error }

func (c *shapes) bad(path, format string, args ...any) {
	if path == "" {
		path = "definition"
	}
	c.errs = append(c.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// absent reports a missing or null value: YAML's `input:` with nothing after it.
func absent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// kind names the JSON kind of raw for a message.
func kind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0 || string(t) == "null":
		return "nothing"
	case t[0] == '{':
		return "a mapping"
	case t[0] == '[':
		return "a list"
	case t[0] == '"':
		return "a string"
	case string(t) == "true" || string(t) == "false":
		return "true/false"
	}
	return "a number"
}

// mapping decodes raw as a mapping whose keys are all in allowed (any key when allowed is
// nil), reporting each unknown key at its own path. It returns nil for a value that is not
// a mapping, reported as what wants is.
func (c *shapes) mapping(raw json.RawMessage, path, wants string, allowed []string) map[string]json.RawMessage {
	if kind(raw) != "a mapping" {
		c.bad(path, "want %s, got %s", wants, kind(raw))
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		c.bad(path, "%v", err)
		return nil
	}
	if allowed != nil {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(allowed, k) {
				c.bad(join(path, k), "unknown field (want one of %s)", strings.Join(allowed, ", "))
			}
		}
	}
	return m
}

// str decodes an optional string.
func (c *shapes) str(raw json.RawMessage, path string) string {
	if absent(raw) {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		c.bad(path, "want a string, got %s", kind(raw))
	}
	return s
}

// number decodes an optional number that must not be negative; whole asks for an integer.
func (c *shapes) number(raw json.RawMessage, path string, whole bool) float64 {
	if absent(raw) {
		return 0
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		c.bad(path, "want a number, got %s", kind(raw))
		return 0
	}
	switch {
	case f < 0:
		c.bad(path, "must not be negative, got %v", f)
		return 0
	case whole && f != math.Trunc(f):
		c.bad(path, "want a whole number, got %v", f)
		return 0
	}
	return f
}

// duration reads a number of seconds, at most maxSeconds: a bigger one (1e300) would overflow
// into a negative time.Duration.
func (c *shapes) duration(raw json.RawMessage, path string) float64 {
	f := c.number(raw, path, false)
	if f > maxSeconds {
		c.bad(path, "must be at most %d seconds (a year), got %v", maxSeconds, f)
		return 0
	}
	return f
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// MaxTasks bounds the tasks of one workflow: far above any real workflow (they have tens).
const MaxTasks = 1000

// Parse decodes, validates and compiles a definition. Its error joins every problem found,
// each located by a path (tasks.deploy.next[0].do: message), which the pack loader turns
// into a file and line.
//
// A definition registered from a StackStorm pack is wrapped (Wrap) with its dialect, and
// parsed as that dialect.
func Parse(raw json.RawMessage) (*Workflow, error) {
	if e, ok := unwrap(raw); ok {
		switch e.Dialect {
		case DialectOrquesta:
			return ParseOrquesta(e.Definition)
		case DialectActionChain:
			return ParseActionChain(e.Definition)
		case DialectInquirer:
			return inquirerWorkflow(), nil
		}
		return nil, fmt.Errorf("definition: unknown dialect %q", e.Dialect)
	}
	return ParseNative(raw)
}

// ParseNative parses a definition in Attune's own dialect only.
func ParseNative(raw json.RawMessage) (*Workflow, error) {
	c := &shapes{}
	top := c.mapping(raw, "", "a mapping of version, vars, tasks, output", definitionKeys)
	if top == nil {
		return nil, errors.Join(c.errs...)
	}
	bad := c.bad
	compile := func(raw json.RawMessage, env map[string]any, path ...string) expression {
		if absent(raw) {
			return nil
		}
		t, err := ruleeval.CompileTemplateIn(raw, env, path...)
		if err != nil {
			c.errs = append(c.errs, err)
		}
		return attune(t)
	}
	// vars, output, a task's input and a transition's publish are mappings of name: value
	// (a value may be a template); Orquesta's list of one-key mappings is refused with a
	// message that says how to write it.
	object := func(raw json.RawMessage, path ...string) expression {
		if absent(raw) {
			return nil
		}
		if c.mapping(raw, strings.Join(path, "."), "a mapping of name: value", nil) == nil {
			return nil
		}
		return compile(raw, compileEnv, path...)
	}
	if v := top["version"]; !absent(v) && (kind(v) == "a mapping" || kind(v) == "a list") {
		bad("version", "want a number or a string, got %s", kind(v))
	}
	c.str(top["description"], "description")
	w := &Workflow{tasks: map[string]*Task{}}
	w.vars = object(top["vars"], "vars")
	w.output = object(top["output"], "output")
	var tasks map[string]json.RawMessage
	if absent(top["tasks"]) {
		bad("tasks", "a workflow needs at least one task")
	} else if tasks = c.mapping(top["tasks"], "tasks", "a mapping of task name: task", nil); tasks != nil && len(tasks) == 0 {
		bad("tasks", "a workflow needs at least one task")
	} else if len(tasks) > MaxTasks {
		// Every decision folds the whole definition: a definition with no bound is a way to
		// make the engine's every step as slow as its author likes.
		bad("tasks", "%d tasks, more than the %d a workflow may have", len(tasks), MaxTasks)
		tasks = nil
	}
	inbound := map[string]map[string]bool{} // task → tasks with a transition to it
	joins := map[string]json.RawMessage{}
	for _, name := range slices.Sorted(maps.Keys(tasks)) {
		at := "tasks." + name
		rt := c.mapping(tasks[name], at, "a mapping of action, input, next …", taskKeys)
		if rt == nil {
			continue
		}
		t := &Task{
			Name:    name,
			Action:  c.str(rt["action"], at+".action"),
			Timeout: seconds(c.duration(rt["timeout"], at+".timeout")),
			Delay:   seconds(c.duration(rt["delay"], at+".delay")),
		}
		c.str(rt["description"], at+".description")
		if t.Action == "" && (absent(rt["action"]) || kind(rt["action"]) == "a string") {
			bad(at+".action", "missing")
		}
		t.input = object(rt["input"], at, "input")
		if !absent(rt["retry"]) {
			if r := c.mapping(rt["retry"], at+".retry", "a mapping of count, delay, backoff", retryKeys); r != nil {
				t.Retry = Retry{
					Count:   int(c.number(r["count"], at+".retry.count", true)),
					Delay:   seconds(c.duration(r["delay"], at+".retry.delay")),
					Backoff: c.str(r["backoff"], at+".retry.backoff"),
				}
				if t.Retry.Backoff != "" && !slices.Contains(Backoffs, t.Retry.Backoff) {
					bad(at+".retry.backoff", "unknown backoff %q (want one of %v)", t.Retry.Backoff, Backoffs)
				}
			}
		}
		if with := rt["with"]; !absent(with) {
			items := with
			if kind(with) != "a string" {
				m := c.mapping(with, at+".with", "a mapping of items, concurrency, or an items expression", withKeys)
				items = m["items"]
				t.Concurrency = int(c.number(m["concurrency"], at+".with.concurrency", true))
			}
			var src string
			switch {
			case kind(with) != "a string" && kind(with) != "a mapping":
			case absent(items):
				bad(at+".with.items", "missing")
			case kind(items) == "a list":
				t.items = compile(items, compileEnv, at, "with", "items")
			case json.Unmarshal(items, &src) != nil:
				bad(at+".with.items", "want a {{ expression }} giving a list, or a list, got %s", kind(items))
			case !strings.Contains(src, "{{"):
				bad(at+".with.items", "want a {{ expression }} giving a list, or a list, got the text %q", src)
			default:
				t.items = compile(items, compileEnv, at, "with", "items")
			}
		}
		if next := rt["next"]; !absent(next) {
			var list []json.RawMessage
			if kind(next) != "a list" || json.Unmarshal(next, &list) != nil {
				bad(at+".next", "want a list of transitions (when, publish, do), got %s", kind(next))
			}
			for i, raw := range list {
				tat := fmt.Sprintf("%s.next[%d]", at, i)
				rtr := c.mapping(raw, tat, "a mapping of when, publish, do", transitionKeys)
				if rtr == nil {
					continue
				}
				tr := Transition{}
				if when := c.str(rtr["when"], tat+".when"); when != "" {
					src, _ := json.Marshal(when)
					tr.when = compile(src, compileEnv, tat, "when")
				}
				tr.publish = object(rtr["publish"], tat, "publish")
				do, err := targets(rtr["do"])
				if err != nil {
					bad(tat+".do", "%v", err)
				}
				for _, target := range do {
					if _, ok := tasks[target]; !ok {
						bad(tat+".do", "unknown task %q", target)
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
		}
		joins[name] = rt["join"]
		w.tasks[name] = t
	}
	w.link(c, joins, inbound)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return w, nil
}

// link resolves each task's join against the tasks leading to it (inbound), finds the start
// tasks (those no transition leads to) and checks that a path reaches every task.
func (w *Workflow) link(c *shapes, joins map[string]json.RawMessage, inbound map[string]map[string]bool) {
	for _, name := range slices.Sorted(maps.Keys(w.tasks)) {
		t := w.tasks[name]
		join, err := parseJoin(joins[name], len(inbound[name]))
		if err != nil {
			c.bad("tasks."+name+".join", "%v", err)
		}
		t.Join = join
		if len(inbound[name]) == 0 {
			w.start = append(w.start, name)
		}
	}
	if len(w.tasks) > 0 && len(w.start) == 0 {
		c.bad("tasks", "no start task (every task has an inbound transition)")
	}
	for _, name := range w.unreachable() {
		c.bad("tasks."+name, "no path from a start task reaches it")
	}
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
