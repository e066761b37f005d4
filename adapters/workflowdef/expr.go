package workflowdef

import (
	"github.com/attune-go/attune/adapters/ruleeval"
)

// expression is one compiled value of a definition: Attune's own {{ }} templates
// (ruleeval), or StackStorm's Jinja and YAQL for an Orquesta or action-chain definition
// (st2expr). The engine never sees which: it renders through the Workflow and Task methods,
// which evaluate each with the scope of its own dialect.
type expression interface {
	eval(s Scope) (any, error)
	// kvRefs lists the keys of the key-value store the value reads, fetched by the engine
	// before it renders.
	kvRefs() []ruleeval.KVRef
}

// attuneTemplate is a ruleeval template read with Attune's names (Scope.variables).
type attuneTemplate struct{ t *ruleeval.Template }

func (a attuneTemplate) eval(s Scope) (any, error) { return a.t.RenderIn(s.variables()) }
func (a attuneTemplate) kvRefs() []ruleeval.KVRef  { return a.t.KVRefs() }

// attune wraps a compiled template; a nil one is no expression at all.
func attune(t *ruleeval.Template) expression {
	if t == nil {
		return nil
	}
	return attuneTemplate{t}
}

// kvRefsOf is the keys an expression reads; none for no expression.
func kvRefsOf(e expression) []ruleeval.KVRef {
	if e == nil {
		return nil
	}
	return e.kvRefs()
}

// noKV is embedded by expressions that read no key.
type noKV struct{}

func (noKV) kvRefs() []ruleeval.KVRef { return nil }
