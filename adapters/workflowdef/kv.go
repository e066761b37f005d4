package workflowdef

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/attune-go/attune/adapters/ruleeval"
)

// The key-value store in a workflow's templates: kv.system.NAME and kv.pack.NAME (the pack
// of the workflow's action), read as in rules (ruleeval's kv.go). A task's input may render
// a secret key into a secret parameter of its action (sealed for it); every other template
// is recorded or shown in plaintext, and the engine refuses a secret key there.

// emptyKV is the kv scope with no key: every key is missing.
func emptyKV() map[string]any {
	return map[string]any{"system": map[string]any{}, "pack": map[string]any{}}
}

// KVRefs lists every key any template of the workflow reads, each once: the engine fetches
// them in one query per decision.
func (w *Workflow) KVRefs() []ruleeval.KVRef {
	var out []ruleeval.KVRef
	for _, p := range w.kvPlaces(true) {
		out = append(out, p.refs...)
	}
	slices.SortFunc(out, func(a, b ruleeval.KVRef) int {
		if a.Scope != b.Scope {
			return cmp.Compare(a.Scope, b.Scope)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return slices.Compact(out)
}

// KVPlace is a template of the workflow that reads keys, named for a message.
type KVPlace struct {
	Where string // "vars", "output", "tasks.x.with.items", "tasks.x.next[0].when" …
	refs  []ruleeval.KVRef
}

// Refs lists the keys the place reads.
func (p KVPlace) Refs() []ruleeval.KVRef { return p.refs }

// KVOutsideInputs lists the templates other than tasks' inputs that read keys: a secret key
// may not be read there.
func (w *Workflow) KVOutsideInputs() []KVPlace { return w.kvPlaces(false) }

func (w *Workflow) kvPlaces(inputs bool) []KVPlace {
	var out []KVPlace
	add := func(where string, t expression) {
		if refs := kvRefsOf(t); len(refs) > 0 {
			out = append(out, KVPlace{Where: where, refs: refs})
		}
	}
	add("vars", w.vars)
	add("output", w.output)
	for _, name := range w.Tasks() {
		t := w.tasks[name]
		if inputs {
			add("tasks."+name+".input", t.input)
		}
		add("tasks."+name+".with.items", t.items)
		add("tasks."+name+".delay", t.delay)
		add("tasks."+name+".with.concurrency", t.concurrency)
		add("tasks."+name+".retry.when", t.retryWhen)
		add("tasks."+name+".retry.count", t.retryCount)
		add("tasks."+name+".retry.delay", t.retryDelay)
		for i, tr := range t.Next {
			add(fmt.Sprintf("tasks.%s.next[%d].when", name, i), tr.when)
			add(fmt.Sprintf("tasks.%s.next[%d].publish", name, i), tr.publish)
		}
	}
	return out
}

// InputKV tells, per parameter of the task's input, which keys it reads.
func (t *Task) InputKV() map[string]ruleeval.KVMember {
	switch in := t.input.(type) {
	case attuneTemplate:
		return in.t.KVMembers()
	case *st2Value:
		return in.kvMembers()
	}
	return nil
}
