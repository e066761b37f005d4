package workflowdef

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/execution"
)

// Scope is what a template of the workflow reads: parameters, vars, task.<name>.result,
// item and index, and, in a transition, succeeded(), failed(), timed_out() and result() of
// the task that just finished.
type Scope struct {
	Parameters map[string]any
	Vars       map[string]any
	Results    map[string]any              // task name → its result
	Statuses   map[string]execution.Status // task name → how it ended (Orquesta's task_status)
	Item       any
	Index      int
	Task       string           // the task whose transitions (or retry) are evaluated
	Status     execution.Status // its status
	Result     any              // its result
	// Execution and Action are the workflow's own execution and action ref (Orquesta's
	// ctx(st2)).
	Execution, Action string
	// KV is what the workflow reads of the key-value store, {"system": {…}, "pack": {…}}
	// (Workflow.KVRefs, fetched by the engine); nil: every key is missing.
	KV map[string]any
}

// compileEnv types the names for the compiler; values do not matter, only their kinds.
var compileEnv = Scope{}.variables()

func (s Scope) variables() map[string]any {
	tasks := make(map[string]any, len(s.Results))
	for name, r := range s.Results {
		tasks[name] = map[string]any{"result": r}
	}
	return map[string]any{
		"parameters": orEmpty(s.Parameters),
		"vars":       orEmpty(s.Vars),
		"task":       tasks,
		"item":       s.Item,
		"index":      s.Index,
		"succeeded":  func() bool { return s.Status == execution.Completed },
		"failed":     func() bool { return s.Status.Terminal() && s.Status != execution.Completed },
		"timed_out":  func() bool { return s.Status == execution.Timeout },
		"result":     func() any { return s.Result },
		"length":     length,
		"kv":         kvOrEmpty(s.KV),
	}
}

// length is len() under the name StackStorm users write; nil is empty.
func length(v any) int {
	if v == nil {
		return 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len()
	}
	return 0
}

func kvOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return emptyKV()
	}
	return m
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Decode turns a JSON object of the log (parameters, vars) into a scope map.
func Decode(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	v, err := ruleeval.DecodeJSON(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", raw)
	}
	return m, nil
}

func render(t expression, s Scope) (json.RawMessage, error) {
	if t == nil {
		return nil, nil
	}
	v, err := t.eval(s)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode rendered value as JSON: %w", err)
	}
	return b, nil
}

// Vars renders the initial vars (they may read parameters).
func (w *Workflow) Vars(s Scope) (json.RawMessage, error) {
	out, err := render(w.vars, s)
	if err != nil {
		return nil, fmt.Errorf("render vars: %w", err)
	}
	return out, nil
}

// Output renders the workflow's output, its result.
func (w *Workflow) Output(s Scope) (json.RawMessage, error) {
	out, err := render(w.output, s)
	if err != nil {
		return nil, fmt.Errorf("render output: %w", err)
	}
	return w.Result(out)
}

// Input renders the parameters of one run of the task.
func (t *Task) Input(s Scope) (json.RawMessage, error) {
	s.Item = bindItem(t.itemKeys, s.Item)
	out, err := render(t.input, s)
	if err != nil {
		return nil, fmt.Errorf("render input of task %s: %w", t.Name, err)
	}
	return out, nil
}

// Items renders the with-items list; nil when the task has none.
func (t *Task) Items(s Scope) ([]any, error) {
	if t.items == nil {
		return nil, nil
	}
	v, err := t.items.eval(s)
	if err != nil {
		return nil, fmt.Errorf("render items of task %s: %w", t.Name, err)
	}
	if v == nil {
		return []any{}, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("items of task %s: want a list, got %T", t.Name, v)
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

// Holds reports whether the transition fires: no when, or a when that is true.
func (tr Transition) Holds(s Scope) (bool, error) {
	if tr.when == nil {
		return true, nil
	}
	v, err := tr.when.eval(s)
	if err != nil {
		return false, fmt.Errorf("evaluate when: %w", err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("when: want true or false, got %T", v)
	}
	return b, nil
}

// Publish renders the vars the transition publishes, as a JSON object (nil when none).
func (tr Transition) Publish(s Scope) (map[string]json.RawMessage, error) {
	raw, err := render(tr.publish, s)
	if err != nil || raw == nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("publish: want a mapping of vars: %w", err)
	}
	return out, nil
}
