package ruleeval

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"

	"github.com/attune-go/attune/domain/kv"
)

// The key-value store in templates: kv.system.NAME reads a system key, kv.pack.NAME a key of
// the pack of the rule or workflow. The keys a template reads are known when it compiles, so
// a renderer fetches them all in one query before it renders (the caller fills Scope.KV, or
// the kv name of RenderIn's vars, with what it fetched: {"system": {…}, "pack": {…}}). A
// key that does not exist is a *MissingError like any other path ("kv.system.greeting does
// not exist"), unless ?? gives a default. So that the keys can be known beforehand, kv is
// read only with a constant scope and name: kv.system.NAME, kv.pack["odd-name"], then any
// path into the value (kv.system.cfg.host); kv alone, kv.system[x] or kv.system?.x do not
// compile.

const nameKV = "kv"

// KVRef is one key a template reads: Scope is "system" or "pack".
type KVRef struct {
	Scope, Name string
}

func (r KVRef) String() string { return nameKV + "." + r.Scope + memberSuffix(r.Name) }

// KVMember is what one top-level member of an object template (one parameter) reads of the
// store: every key, and Whole when the member is exactly one key, {{ kv.system.NAME }}.
type KVMember struct {
	Refs  []KVRef
	Whole *KVRef
}

// emptyKV is the kv scope when the caller fetched nothing: every key is missing.
func emptyKV() map[string]any {
	return map[string]any{string(kv.System): map[string]any{}, string(kv.Pack): map[string]any{}}
}

// kvCollector finds the keys a compiled (strict-patched) expression reads: a fetch of a
// constant name on a fetch of a constant scope on the identifier kv. Any other use of kv
// leaves an identifier unaccounted for, which is refused.
type kvCollector struct {
	refs   []KVRef
	idents int
	err    error
}

func (c *kvCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == nameKV {
			c.idents++
		}
	case *ast.CallNode:
		if !isFetch(n) {
			return
		}
		inner, ok := n.Arguments[0].(*ast.CallNode)
		if !ok || !isFetch(inner) {
			return
		}
		if id, ok := inner.Arguments[0].(*ast.IdentifierNode); !ok || id.Value != nameKV {
			return
		}
		scope, ok1 := inner.Arguments[1].(*ast.StringNode)
		name, ok2 := n.Arguments[1].(*ast.StringNode)
		if !ok1 || !ok2 {
			return
		}
		if _, err := kv.ParseScope(scope.Value); err != nil {
			c.err = cmp.Or(c.err, fmt.Errorf("kv.%s: the store's scopes are kv.system and kv.pack", scope.Value))
			return
		}
		if err := kv.ValidName(name.Value); err != nil {
			c.err = cmp.Or(c.err, fmt.Errorf("kv.%s%s: %v", scope.Value, memberSuffix(name.Value), err))
			return
		}
		c.refs = append(c.refs, KVRef{Scope: scope.Value, Name: name.Value})
	}
}

// kvRefsOf lists the keys a compiled program reads, or why kv is used in a way that cannot
// be known before rendering.
func kvRefsOf(root ast.Node) ([]KVRef, error) {
	c := &kvCollector{}
	ast.Walk(&root, c)
	if c.err != nil {
		return nil, c.err
	}
	if c.idents > len(c.refs) {
		return nil, fmt.Errorf("kv is read as kv.system.NAME or kv.pack.NAME, with a constant name (no computed key, no ?. on kv.system or kv.pack; give a default with ??)")
	}
	return uniqueRefs(c.refs), nil
}

func uniqueRefs(refs []KVRef) []KVRef {
	slices.SortFunc(refs, func(a, b KVRef) int { return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Name, b.Name)) })
	return slices.Compact(refs)
}

// KVRefs lists the keys the template reads, each once, sorted.
func (t *Template) KVRefs() []KVRef {
	if t == nil || t.root == nil {
		return nil
	}
	return uniqueRefs(nodeKV(t.root))
}

// KVMembers tells, for each top-level member of an object template that reads the store,
// which keys it reads. Nil for other templates.
func (t *Template) KVMembers() map[string]KVMember {
	o, ok := t.rootObject()
	if !ok {
		return nil
	}
	out := map[string]KVMember{}
	for i, k := range o.keys {
		refs := uniqueRefs(nodeKV(o.nodes[i]))
		if len(refs) == 0 {
			continue
		}
		m := KVMember{Refs: refs}
		if w, ok := o.nodes[i].(*whole); ok && w.prog != nil && w.prog.root == nameKV && len(w.prog.steps) == 2 {
			scope, _ := w.prog.steps[0].key.(string)
			name, _ := w.prog.steps[1].key.(string)
			m.Whole = &KVRef{Scope: scope, Name: name}
		}
		if j, ok := o.nodes[i].(*jinja); ok && j.whole != nil {
			m.Whole = j.whole
		}
		out[k] = m
	}
	return out
}

func (t *Template) rootObject() (*object, bool) {
	if t == nil {
		return nil, false
	}
	o, ok := t.root.(*object)
	return o, ok
}

func nodeKV(n node) []KVRef {
	var out []KVRef
	switch x := n.(type) {
	case *object:
		for _, c := range x.nodes {
			out = append(out, nodeKV(c)...)
		}
	case list:
		for _, c := range x {
			out = append(out, nodeKV(c)...)
		}
	case *whole:
		if x.prog != nil {
			out = append(out, x.prog.kv...)
		}
	case *mixed:
		for _, p := range x.parts {
			if p.prog != nil {
				out = append(out, p.prog.kv...)
			}
		}
	case *jinja:
		out = append(out, x.kv...)
	}
	return out
}

// CriteriaKV lists the keys the rule's criteria or expression read.
func (r *Rule) CriteriaKV() []KVRef {
	var out []KVRef
	if r.cond != nil {
		out = append(out, r.cond.kv...)
	}
	out = append(out, criteriaKV(r.criteria)...)
	return uniqueRefs(out)
}

func criteriaKV(cs []*criterion) []KVRef {
	var out []KVRef
	for _, c := range cs {
		if c.tmpl != nil {
			out = append(out, nodeKV(c.tmpl)...)
		}
		if spec, ok := c.prep.(*searchSpec); ok {
			out = append(out, criteriaKV(spec.criteria)...)
		}
	}
	return out
}

// ParamsKV tells, per parameter, which keys the rule's parameter templates read.
func (r *Rule) ParamsKV() map[string]KVMember { return r.params.KVMembers() }

// KVRefs lists every key the rule reads: criteria and parameters.
func (r *Rule) KVRefs() []KVRef {
	return uniqueRefs(append(r.CriteriaKV(), r.params.KVRefs()...))
}
