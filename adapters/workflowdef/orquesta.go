package workflowdef

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
)

// Orquesta, StackStorm's workflow language, compiles onto the same Workflow as Attune's own
// definitions, with what it does differently kept beside: its context (ctx()) is one mapping
// of the workflow's input, vars and everything published; vars, publish and output are lists
// of one-key mappings evaluated in order; a do may name an engine command; values are Jinja or
// YAQL (st2expr); a task may have no action; the workflow's result is {output: …}, and
// {errors: […], output: …} when it fails.

// The dialects a registered definition may be written in.
const (
	DialectAttune      = ""
	DialectOrquesta    = "orquesta"
	DialectActionChain = "action-chain"
)

// Orquesta's engine commands, written in a do where a task name goes.
const (
	CommandContinue = "continue" // nothing: a failed task stays unhandled
	CommandFail     = "fail"     // the workflow fails
	CommandNoop     = "noop"     // nothing, and the task's failure counts as handled
	CommandRetry    = "retry"    // the task runs again
)

var commands = []string{CommandContinue, CommandFail, CommandNoop, CommandRetry}

var (
	orquestaKeys   = []string{"version", "name", "description", "tags", "input", "vars", "output", "tasks"}
	orqTaskKeys    = []string{"action", "description", "input", "next", "join", "with", "retry", "delay"}
	orqNextKeys    = []string{"when", "publish", "do"}
	orqWithKeys    = []string{"items", "concurrency"}
	orqRetryKeys   = []string{"when", "count", "delay"}
	orqTaskName    = regexp.MustCompile(`^\w+$`)
	orqItemsSyntax = regexp.MustCompile(`^\s*(?:(\w+(?:\s*,\s*\w+)*)\s+in\s+)?(.+?)\s*$`)
)

// Dialect is what the definition was written in (DialectAttune, DialectOrquesta …).
func (w *Workflow) Dialect() string { return w.dialect }

// Command reports whether name, in a task's next, is an engine command rather than a task.
func (w *Workflow) Command(name string) bool {
	return w.dialect != DialectAttune && slices.Contains(commands, name)
}

// Fails reports whether a transition to next fails the workflow (Orquesta's fail command).
func (w *Workflow) Fails(next []string) bool {
	return w.dialect != DialectAttune && slices.Contains(next, CommandFail)
}

// envelope is how a StackStorm definition is registered: the file as written, and the dialect
// it is read in, so the engine evaluates what was registered.
type envelope struct {
	Dialect    string          `json:"dialect"`
	Definition json.RawMessage `json:"definition"`
}

// Wrap records a definition of a StackStorm dialect for pack.Action.Workflow.
func Wrap(dialect string, definition json.RawMessage) (json.RawMessage, error) {
	return json.Marshal(envelope{Dialect: dialect, Definition: definition})
}

// unwrap finds a StackStorm definition's envelope; ok is false for Attune's own.
func unwrap(raw json.RawMessage) (envelope, bool) {
	var e envelope
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil || len(keys) != 2 || keys["dialect"] == nil || keys["definition"] == nil {
		return e, false
	}
	if json.Unmarshal(raw, &e) != nil || e.Dialect == "" {
		return e, false
	}
	return e, true
}

// ParseOrquesta decodes, validates and compiles an Orquesta definition. Like Parse, its error
// joins every problem, each at its path in the file (tasks.deploy.next[0].do: message).
// Whatever Orquesta accepts and Attune cannot run is refused with the reason.
func ParseOrquesta(raw json.RawMessage) (*Workflow, error) {
	c := &shapes{}
	top := c.mapping(raw, "", "a mapping of version, description, input, vars, tasks, output", orquestaKeys)
	if top == nil {
		return nil, errors.Join(c.errs...)
	}
	sc := st2Compiler{c: c, env: orquestaEnv}
	if v := top["version"]; !absent(v) {
		var f float64
		var s string
		if (json.Unmarshal(v, &f) != nil || f != 1) && (json.Unmarshal(v, &s) != nil || (s != "1.0" && s != "1")) {
			c.bad("version", "Orquesta's version is 1.0, got %s", v)
		}
	}
	c.str(top["name"], "name")
	c.str(top["description"], "description")
	if t := top["tags"]; !absent(t) {
		var tags []string
		if json.Unmarshal(t, &tags) != nil {
			c.bad("tags", "want a list of strings, got %s", kind(t))
		}
	}
	w := &Workflow{tasks: map[string]*Task{}, dialect: DialectOrquesta}
	input := sc.entries(top["input"], "input", true)
	w.vars = &initialContext{input: input, vars: newOrdered(sc.entries(top["vars"], "vars", false))}
	if !absent(top["output"]) {
		w.output = newOrdered(sc.entries(top["output"], "output", false))
	}
	var tasks map[string]json.RawMessage
	if absent(top["tasks"]) {
		c.bad("tasks", "a workflow needs at least one task")
	} else if tasks = c.mapping(top["tasks"], "tasks", "a mapping of task name: task", nil); tasks != nil && len(tasks) == 0 {
		c.bad("tasks", "a workflow needs at least one task")
	} else if len(tasks) > MaxTasks {
		c.bad("tasks", "%d tasks, more than the %d a workflow may have", len(tasks), MaxTasks)
		tasks = nil
	}
	inbound := map[string]map[string]bool{}
	joins := map[string]json.RawMessage{}
	for _, name := range slices.Sorted(maps.Keys(tasks)) {
		at := "tasks." + name
		switch {
		case slices.Contains(commands, name):
			c.bad(at, "the task name %q is reserved for Orquesta's engine command", name)
			continue
		case !orqTaskName.MatchString(name):
			c.bad(at, "%q is not a task name: letters, digits and _ only", name)
			continue
		}
		rt := c.mapping(tasks[name], at, "a mapping of action, input, next …", orqTaskKeys)
		if rt == nil {
			continue
		}
		t := sc.task(name, at, rt)
		for i, tr := range t.Next {
			for _, target := range tr.Do {
				if slices.Contains(commands, target) {
					continue
				}
				if _, ok := tasks[target]; !ok {
					c.bad(fmt.Sprintf("%s.next[%d].do", at, i), "the task %q is not defined", target)
					continue
				}
				if inbound[target] == nil {
					inbound[target] = map[string]bool{}
				}
				inbound[target][name] = true
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

// entries reads a list of names or one-key mappings (names only where bare is true: the
// workflow's input, where a name alone has no default).
func (sc st2Compiler) entries(raw json.RawMessage, path string, bare bool) []entry {
	if absent(raw) {
		return nil
	}
	var list []json.RawMessage
	if kind(raw) != "a list" || json.Unmarshal(raw, &list) != nil {
		sc.c.bad(path, "want a list of one-key mappings (- name: value), got %s", kind(raw))
		return nil
	}
	var out []entry
	seen := map[string]bool{}
	for i, item := range list {
		at := fmt.Sprintf("%s[%d]", path, i)
		var e entry
		if bare && kind(item) == "a string" {
			e.name = sc.c.str(item, at)
		} else {
			m := sc.c.mapping(item, at, "a one-key mapping (name: value)", nil)
			if m == nil {
				continue
			}
			if len(m) != 1 {
				sc.c.bad(at, "want one key (name: value), got %d", len(m))
				continue
			}
			for k, v := range m {
				e.name = k
				e.value = sc.raw(v, join(at, k))
				if e.value == nil {
					e.value = &st2Value{env: sc.env} // name: null
				}
			}
		}
		if seen[e.name] {
			sc.c.bad(at, "%q is listed twice", e.name)
		}
		seen[e.name] = true
		out = append(out, e)
	}
	return out
}

func (sc st2Compiler) task(name, at string, rt map[string]json.RawMessage) *Task {
	c := sc.c
	t := &Task{Name: name}
	c.str(rt["description"], at+".description")
	action := c.str(rt["action"], at+".action")
	var inline map[string]any
	if ref, params, ok := strings.Cut(strings.TrimSpace(action), " "); ok {
		action, inline = ref, parseInline(params)
		if rest := strings.TrimSpace(inlineParams.ReplaceAllString(params, "")); rest != "" {
			c.bad(at+".action", "cannot read %q as inline parameters (name=value, a text value quoted)", rest)
		}
	}
	switch {
	case strings.Contains(action, "<%") || strings.Contains(action, "{{"):
		c.bad(at+".action", "an action chosen by an expression cannot be checked at load: name the action")
	case action == "" && !absent(rt["with"]):
		c.bad(at+".action", "a with-items task needs an action")
	}
	t.Action = action
	switch in := rt["input"]; {
	case len(inline) > 0 && !absent(in):
		c.bad(at+".input", "the action's inline parameters and input are both given: write one")
	case len(inline) > 0:
		t.input = sc.value(inline, at+".action").expression()
	case !absent(in) && kind(in) != "a mapping":
		c.bad(at+".input", "want a mapping of parameter: value, got %s", kind(in))
	case !absent(in):
		t.input = sc.raw(in, at+".input").expression()
	}
	if !absent(rt["input"]) || len(inline) > 0 {
		if action == "" {
			c.bad(at+".input", "a task without an action takes no input")
		}
	}
	if action == inquiry.AskAction {
		t.input = asking(t.input, sc.env)
	}
	t.delay = sc.seconds(rt["delay"], at+".delay", &t.Delay)
	if r := rt["retry"]; !absent(r) {
		if m := c.mapping(r, at+".retry", "a mapping of when, count, delay", orqRetryKeys); m != nil {
			if absent(m["count"]) {
				c.bad(at+".retry.count", "missing")
			}
			if kind(m["count"]) == "a string" {
				t.retryCount = sc.raw(m["count"], at+".retry.count").expression()
			} else {
				t.Retry.Count = int(c.number(m["count"], at+".retry.count", true))
			}
			t.retryDelay = sc.seconds(m["delay"], at+".retry.delay", &t.Retry.Delay)
			if when := c.str(m["when"], at+".retry.when"); when != "" {
				t.retryWhen = truthy{sc.value(when, at+".retry.when")}
			}
		}
	}
	if with := rt["with"]; !absent(with) {
		items := with
		if kind(with) == "a mapping" {
			m := c.mapping(with, at+".with", "a mapping of items, concurrency", orqWithKeys)
			items = m["items"]
			if kind(m["concurrency"]) == "a string" {
				t.concurrency = sc.raw(m["concurrency"], at+".with.concurrency").expression()
			} else {
				t.Concurrency = int(c.number(m["concurrency"], at+".with.concurrency", true))
			}
		}
		src := c.str(items, at+".with.items")
		m := orqItemsSyntax.FindStringSubmatch(src)
		switch {
		case src == "":
			c.bad(at+".with.items", "missing")
		case m == nil || !(strings.Contains(m[2], "<%") || strings.Contains(m[2], "{{")):
			c.bad(at+".with.items", "want \"x in <%% expression %%>\" or an expression giving a list, got %q", src)
		default:
			if m[1] != "" {
				for _, k := range strings.Split(m[1], ",") {
					t.itemKeys = append(t.itemKeys, strings.TrimSpace(k))
				}
			}
			t.items = sc.value(m[2], at+".with.items").expression()
		}
	}
	if next := rt["next"]; !absent(next) {
		var list []json.RawMessage
		if kind(next) != "a list" || json.Unmarshal(next, &list) != nil {
			c.bad(at+".next", "want a list of transitions (when, publish, do), got %s", kind(next))
		}
		for i, raw := range list {
			t.Next = append(t.Next, sc.transition(raw, fmt.Sprintf("%s.next[%d]", at, i)))
		}
	}
	return t
}

func (sc st2Compiler) transition(raw json.RawMessage, at string) Transition {
	c := sc.c
	var tr Transition
	m := c.mapping(raw, at, "a mapping of when, publish, do", orqNextKeys)
	if m == nil {
		return tr
	}
	if when := c.str(m["when"], at+".when"); when != "" {
		tr.when = truthy{sc.value(when, at+".when")}
	}
	switch p := m["publish"]; {
	case absent(p):
	case kind(p) == "a string":
		// publish: "x=<% … %> y=…", Orquesta's inline form.
		var entries []entry
		for _, pm := range inlineParams.FindAllStringSubmatch(c.str(p, at+".publish"), -1) {
			for k, v := range parseInline(pm[0]) {
				entries = append(entries, entry{name: k, value: sc.value(v, at+".publish")})
			}
		}
		tr.publish = newOrdered(entries)
	default:
		tr.publish = newOrdered(sc.entries(p, at+".publish", false))
	}
	switch d := m["do"]; {
	case absent(d):
	case kind(d) == "a string":
		for _, n := range strings.Split(c.str(d, at+".do"), ",") {
			if n = strings.TrimSpace(n); n != "" {
				tr.Do = append(tr.Do, n)
			}
		}
	default:
		if err := json.Unmarshal(d, &tr.Do); err != nil {
			c.bad(at+".do", "want a task name, a comma-separated string of them or a list, got %s", kind(d))
		}
	}
	return tr
}

// seconds reads a delay: a number into d, or an expression evaluated when the task starts.
func (sc st2Compiler) seconds(raw json.RawMessage, path string, d *time.Duration) expression {
	if kind(raw) == "a string" {
		return sc.raw(raw, path).expression()
	}
	*d = seconds(sc.c.duration(raw, path))
	return nil
}

// DelayIn is how long the task waits before its first run: its delay expression rendered, or
// its number of seconds.
func (t *Task) DelayIn(s Scope) (time.Duration, error) {
	if t.delay == nil {
		return t.Delay, nil
	}
	return secondsIn(t.delay, s, "delay of task "+t.Name)
}

// secondsIn renders a duration in seconds; null is none (delay: <% ctx().delay %> with no
// delay given, as in Orquesta).
func secondsIn(e expression, s Scope, what string) (time.Duration, error) {
	v, err := e.eval(s)
	if err != nil {
		return 0, fmt.Errorf("render %s: %w", what, err)
	}
	if v == nil {
		return 0, nil
	}
	f, ok := number(v)
	if !ok || f < 0 || f > maxSeconds {
		return 0, fmt.Errorf("%s: want a number of seconds from 0 to %d, got %v", what, maxSeconds, v)
	}
	return seconds(f), nil
}

// RetryIn is the task's retry clause with its count and delay rendered where they are
// expressions.
func (t *Task) RetryIn(s Scope) (Retry, error) {
	rt := t.Retry
	if t.retryCount != nil {
		n, err := wholeIn(t.retryCount, s, "retry.count of task "+t.Name)
		if err != nil {
			return rt, err
		}
		rt.Count = n
	}
	if t.retryDelay != nil {
		d, err := secondsIn(t.retryDelay, s, "retry.delay of task "+t.Name)
		if err != nil {
			return rt, err
		}
		rt.Delay = d
	}
	return rt, nil
}

// Retries reports whether a run that ended status with result runs again (attempts left
// aside): when retry.when is given, when it holds; else when the run did not complete.
func (t *Task) Retries(s Scope, status execution.Status, result any) (bool, error) {
	if t.retryWhen == nil {
		return status != execution.Completed, nil
	}
	s.Task, s.Status, s.Result = t.Name, status, result
	v, err := t.retryWhen.eval(s)
	if err != nil {
		return false, fmt.Errorf("evaluate retry.when of task %s: %w", t.Name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("retry.when of task %s: want true or false, got %T", t.Name, v)
	}
	return b, nil
}

// number reads a rendered number: an integer, a float, or text holding one (an expression
// rendered inside a larger string).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// bindItem is an item as Orquesta names it: with `x, y in …`, a mapping of those names to the
// item (or to its members, for a list per item).
func bindItem(keys []string, item any) any {
	if len(keys) == 0 {
		return item
	}
	if list, ok := item.([]any); ok && len(keys) > 1 {
		out := map[string]any{}
		for i, k := range keys {
			if i < len(list) {
				out[k] = list[i]
			}
		}
		return out
	}
	if len(keys) == 1 {
		return map[string]any{keys[0]: item}
	}
	return item
}

// orquestaEnv is what an Orquesta expression reads: ctx() the workflow's context, and the
// functions of the task whose transitions, input or items are evaluated.
func orquestaEnv(s Scope) st2Env {
	ctx := orEmpty(s.Vars)
	funcs := map[string]st2Func{
		"ctx": func(_ context.Context, args ...any) (any, error) {
			if len(args) == 0 {
				return ctx, nil
			}
			name := fmt.Sprint(args[0])
			v, ok := ctx[name]
			if !ok {
				return nil, fmt.Errorf("ctx has no %q (it has %s)", name, strings.Join(slices.Sorted(maps.Keys(ctx)), ", "))
			}
			return v, nil
		},
		"task": func(_ context.Context, args ...any) (any, error) {
			if len(args) == 0 {
				return map[string]any{"task_id": s.Task, "task_name": s.Task, "result": taskRecord(s.Result), "status": orquestaStatus(s.Status)}, nil
			}
			name := fmt.Sprint(args[0])
			r, ok := s.Results[name]
			if !ok {
				return nil, fmt.Errorf("task %q has not run yet", name)
			}
			return map[string]any{"task_id": name, "task_name": name, "result": taskRecord(r), "status": orquestaStatus(s.Statuses[name])}, nil
		},
		"task_status": func(_ context.Context, args ...any) (any, error) {
			if len(args) == 0 {
				return orquestaStatus(s.Status), nil
			}
			st, ok := s.Statuses[fmt.Sprint(args[0])]
			if !ok {
				return nil, nil // not run yet: Orquesta says null too
			}
			return orquestaStatus(st), nil
		},
		"decrypt_kv": decryptKV,
		"result": func(context.Context, ...any) (any, error) {
			if items, ok := s.Result.(Items); ok {
				return items.results(), nil // Orquesta's conductor hands a with-items task's transitions the list
			}
			return s.Result, nil
		},
		"item": func(_ context.Context, args ...any) (any, error) {
			if len(args) == 0 {
				return s.Item, nil
			}
			name := fmt.Sprint(args[0])
			m, ok := s.Item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item has no %q: the item is not a mapping", name)
			}
			v, ok := m[name]
			if !ok {
				return nil, fmt.Errorf("item has no %q", name)
			}
			return v, nil
		},
		"succeeded": func(context.Context, ...any) (any, error) { return s.Status == execution.Completed, nil },
		"failed": func(context.Context, ...any) (any, error) {
			return s.Status.Terminal() && s.Status != execution.Completed, nil
		},
		"completed": func(context.Context, ...any) (any, error) { return s.Status.Terminal(), nil },
		"st2kv":     st2kv(s.KV),
	}
	return st2Env{Root: ctx, Funcs: funcs}
}

// taskRecord is a task's result as StackStorm's task(name).result reads it: a with-items
// task's is {items: [{status, result}, …]}, any other's its action's result.
func taskRecord(r any) any {
	if items, ok := r.(Items); ok {
		return items.orquesta()
	}
	return r
}

// st2kv reads the key-value store as StackStorm's st2kv('system.name') does, from what the
// engine fetched (the keys kvRefsIn found). A second argument (decrypt) is accepted: a
// secret key is refused outside a task's input anyway.
func st2kv(kv map[string]any) st2Func {
	return func(_ context.Context, args ...any) (any, error) {
		if len(args) == 0 {
			return nil, errors.New("st2kv: want a key like 'system.name'")
		}
		key := strings.TrimPrefix(fmt.Sprint(args[0]), "system.")
		system, _ := kvOrEmpty(kv)["system"].(map[string]any)
		v, ok := system[key]
		if !ok {
			return nil, fmt.Errorf("st2kv: no key system.%s in the key-value store", key)
		}
		return v, nil
	}
}

// Result is the workflow's result as its dialect shapes it: Attune's output as it is, and
// Orquesta's {output: …}.
func (w *Workflow) Result(output json.RawMessage) (json.RawMessage, error) {
	if w.dialect != DialectOrquesta {
		return output, nil
	}
	if output == nil {
		output = json.RawMessage("null")
	}
	return json.Marshal(map[string]json.RawMessage{"output": output})
}

// TaskError is a task's ending that fails the workflow (a failure no transition handled, a
// fail command), for Orquesta's errors.
type TaskError struct {
	Task    string
	Message string
	Result  any
}

// FailedResult is the result of a failed workflow: none for Attune's dialect; for Orquesta
// {errors: [{type, message, task_id, result}], output: …}, an error per task that failed it
// (else one saying reason), and its output rendered if it can be.
func (w *Workflow) FailedResult(s Scope, reason string, tasks []TaskError) json.RawMessage {
	if w.dialect != DialectOrquesta {
		return nil
	}
	errs := []map[string]any{}
	for _, t := range tasks {
		errs = append(errs, map[string]any{"type": "error", "message": t.Message, "task_id": t.Task, "result": taskRecord(t.Result)})
	}
	if len(errs) == 0 {
		errs = append(errs, map[string]any{"type": "error", "message": reason})
	}
	var output any
	if w.output != nil {
		if v, err := w.output.eval(s); err == nil {
			output = v
		}
	}
	b, err := json.Marshal(map[string]any{"errors": errs, "output": output})
	if err != nil {
		return nil
	}
	return b
}

// ConcurrencyIn is how many items of the task run at once (0: all of them): its number, or
// its expression rendered.
func (t *Task) ConcurrencyIn(s Scope) (int, error) {
	if t.concurrency == nil {
		return t.Concurrency, nil
	}
	return wholeIn(t.concurrency, s, "concurrency of task "+t.Name)
}

// wholeIn renders a whole number that may not be negative; null is 0.
func wholeIn(e expression, s Scope, what string) (int, error) {
	v, err := e.eval(s)
	if err != nil {
		return 0, fmt.Errorf("render %s: %w", what, err)
	}
	if v == nil {
		return 0, nil
	}
	f, ok := number(v)
	if !ok || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s: want a whole number, got %v", what, v)
	}
	return int(f), nil
}

// Delayed reports whether the task's delay is an expression (DelayIn renders it).
func (t *Task) Delayed() bool { return t.delay != nil }

// Targets is what a firing transition of task, whose run ended status, records as its next:
// its tasks, and its engine commands as the engine acts on them — continue drops out (a
// failure stays unhandled), noop and fail stay (handled; failing the workflow), retry becomes
// the task itself (it runs again). A retry with no when applies to a run that did not
// complete, as Orquesta's does.
func (w *Workflow) Targets(task string, tr Transition, status execution.Status) []string {
	if w.dialect == DialectAttune {
		return tr.Do
	}
	out := make([]string, 0, len(tr.Do))
	for _, n := range tr.Do {
		switch n {
		case CommandContinue:
		case CommandRetry:
			if tr.when != nil || status != execution.Completed {
				out = append(out, task)
			}
		default:
			out = append(out, n)
		}
	}
	return out
}

// truthy reads a condition as Orquesta does, by Python's truth: null, false, 0, "" and an
// empty list or mapping are false, anything else true.
type truthy struct{ e expression }

func (t truthy) kvRefs() []ruleeval.KVRef { return t.e.kvRefs() }

func (t truthy) eval(s Scope) (any, error) {
	v, err := t.e.eval(s)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		return x != "", nil
	case []any:
		return len(x) > 0, nil
	case map[string]any:
		return len(x) > 0, nil
	}
	if f, ok := number(v); ok {
		return f != 0, nil
	}
	return true, nil
}

// orquestaStatus names a task's ending as Orquesta does.
func orquestaStatus(s execution.Status) string {
	switch s {
	case execution.Completed:
		return "succeeded"
	case execution.Timeout:
		return "failed" // a timed-out action fails its Orquesta task
	case execution.Cancelled:
		return "canceled"
	}
	return string(s)
}

// decryptKV is StackStorm's decrypt_kv: the engine has opened a secret key it fetched
// already (kvscope), so the value passes as it is.
func decryptKV(_ context.Context, args ...any) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("decrypt_kv: want a value")
	}
	return args[0], nil
}
