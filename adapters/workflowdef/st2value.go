package workflowdef

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/ruleeval"
)

// st2Value is one value of a StackStorm definition (Orquesta or action-chain) compiled: a
// string is a template (Jinja {{ }}, YAQL <% %>) evaluated by st2expr, a list or a mapping
// holds values, anything else is itself. env builds the names and functions of the dialect
// from the engine's scope.
type st2Value struct {
	lit  any
	tmpl *st2Template
	list []*st2Value
	keys []string // a mapping's keys, sorted; vals in the same order
	vals []*st2Value
	kind valueKind
	env  func(Scope) st2Env
	kv   []ruleeval.KVRef
}

type valueKind int

const (
	literalValue valueKind = iota
	templateValue
	listValue
	mapValue
)

// st2Compiler compiles the values of one definition, gathering every problem at its path.
type st2Compiler struct {
	c   *shapes
	env func(Scope) st2Env
}

// value compiles v (decoded JSON) found at path.
func (sc st2Compiler) value(v any, path string) *st2Value {
	switch x := v.(type) {
	case string:
		t, err := st2Compile(x)
		if err != nil {
			sc.c.bad(path, "%v", err)
			return &st2Value{lit: x, env: sc.env}
		}
		if t.Literal() {
			return &st2Value{lit: x, env: sc.env}
		}
		return &st2Value{kind: templateValue, tmpl: t, env: sc.env, kv: kvRefsIn(x)}
	case []any:
		out := &st2Value{kind: listValue, env: sc.env}
		for i, e := range x {
			ev := sc.value(e, fmt.Sprintf("%s[%d]", path, i))
			out.list = append(out.list, ev)
			out.kv = append(out.kv, ev.kv...)
		}
		return out
	case map[string]any:
		out := &st2Value{kind: mapValue, env: sc.env, keys: slices.Sorted(maps.Keys(x))}
		for _, k := range out.keys {
			ev := sc.value(x[k], join(path, k))
			out.vals = append(out.vals, ev)
			out.kv = append(out.kv, ev.kv...)
		}
		return out
	}
	return &st2Value{lit: v, env: sc.env}
}

// raw compiles a JSON value; absent is nil.
func (sc st2Compiler) raw(raw json.RawMessage, path string) *st2Value {
	if absent(raw) {
		return nil
	}
	v, err := ruleeval.DecodeJSON(raw)
	if err != nil {
		sc.c.bad(path, "%v", err)
		return nil
	}
	return sc.value(v, path)
}

// expression returns v as an expression, nil staying nil (an interface holding a nil
// pointer is not nil).
func (v *st2Value) expression() expression {
	if v == nil {
		return nil
	}
	return v
}

func (v *st2Value) kvRefs() []ruleeval.KVRef { return v.kv }

func (v *st2Value) eval(s Scope) (any, error) {
	switch v.kind {
	case templateValue:
		// Rendering is computation on values in memory, bounded by st2expr itself: there is
		// nothing to cancel.
		return v.tmpl.Render(context.Background(), v.env(s))
	case listValue:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			r, err := e.eval(s)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case mapValue:
		out := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			r, err := v.vals[i].eval(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	}
	return v.lit, nil
}

// st2kvCall and st2kvName find the keys a template reads: st2kv('system.name') and
// {{ st2kv.system.name }}, the ways StackStorm content writes them. A key named by an
// expression is not found here and reads as missing.
var (
	st2kvCall = regexp.MustCompile(`st2kv\(\s*['"](?:system\.)?([^'"]+)['"]`)
	st2kvName = regexp.MustCompile(`st2kv\.system\.(\w+)`)
)

func kvRefsIn(src string) []ruleeval.KVRef {
	var out []ruleeval.KVRef
	for _, re := range []*regexp.Regexp{st2kvCall, st2kvName} {
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			out = append(out, ruleeval.KVRef{Scope: "system", Name: m[1]})
		}
	}
	return out
}

// entry is one entry of an ordered list of one-key mappings (Orquesta's input, vars,
// publish and output).
type entry struct {
	name  string
	value *st2Value // nil: no default
}

// ordered evaluates a list of entries in order, each seeing the ones before it in the
// context (ctx()): what Orquesta does for vars, publish and output.
type ordered struct {
	entries []entry
	kv      []ruleeval.KVRef
}

func newOrdered(entries []entry) *ordered {
	o := &ordered{entries: entries}
	for _, e := range entries {
		if e.value != nil {
			o.kv = append(o.kv, e.value.kv...)
		}
	}
	return o
}

func (o *ordered) kvRefs() []ruleeval.KVRef { return o.kv }

func (o *ordered) eval(s Scope) (any, error) {
	rolling := maps.Clone(orEmpty(s.Vars))
	out := make(map[string]any, len(o.entries))
	for _, e := range o.entries {
		s.Vars = rolling
		var v any
		if e.value != nil {
			var err error
			if v, err = e.value.eval(s); err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
		}
		rolling = maps.Clone(rolling)
		rolling[e.name] = v
		out[e.name] = v
	}
	return out, nil
}

// initialContext is an Orquesta workflow's context when it starts: its input, each from the
// workflow's parameters or else its default (rendered, seeing the inputs before it), then
// its vars in order.
type initialContext struct {
	input []entry
	vars  *ordered
}

func (c *initialContext) kvRefs() []ruleeval.KVRef {
	refs := slices.Clone(c.vars.kv)
	for _, e := range c.input {
		if e.value != nil {
			refs = append(refs, e.value.kv...)
		}
	}
	return refs
}

func (c *initialContext) eval(s Scope) (any, error) {
	// StackStorm's runtime context, ctx(st2): which execution and action this is.
	pack, _, _ := strings.Cut(s.Action, ".")
	rolling := map[string]any{"st2": map[string]any{
		"action_execution_id": s.Execution, "workflow_execution_id": s.Execution,
		"action": s.Action, "pack": pack,
	}}
	for _, e := range c.input {
		v, given := s.Parameters[e.name]
		if !given && e.value != nil {
			s.Vars = rolling
			var err error
			if v, err = e.value.eval(s); err != nil {
				return nil, fmt.Errorf("input %s: %w", e.name, err)
			}
		}
		rolling = maps.Clone(rolling)
		rolling[e.name] = v
	}
	s.Vars = rolling
	vars, err := c.vars.eval(s)
	if err != nil {
		return nil, fmt.Errorf("vars: %w", err)
	}
	maps.Copy(rolling, vars.(map[string]any))
	return rolling, nil
}

// inlineParams matches the key=value pairs of `action: core.echo message=<% ctx().x %>`,
// the value forms Orquesta's parse_inline_params accepts, in its order.
var inlineParams = regexp.MustCompile(`(\w+)=(\[.*\]\s*|"[^"]*"\s*|'[^']*'\s*|-?\d*\.\d+|-?\d+|(?i:true)|(?i:false)|null|<%.*?%>|\{\{.*?\}\}|\{%.*?%\})`)

// parseInline reads inline parameters as Orquesta does: quotes stripped, and a value that is
// JSON (a number, true, a list, a mapping) decoded.
func parseInline(s string) map[string]any {
	out := map[string]any{}
	for _, m := range inlineParams.FindAllStringSubmatch(s, -1) {
		k, v := m[1], strings.TrimSpace(m[2])
		quoted := (strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`)) || (strings.HasPrefix(v, `'`) && strings.HasSuffix(v, `'`))
		if quoted && len(v) >= 2 {
			v = v[1 : len(v)-1]
		}
		isJSONObject := v != "" && v[0] == '{' && v[len(v)-1] == '}'
		var decoded any
		switch {
		case quoted && !isJSONObject:
			out[k] = v
		case strings.EqualFold(v, "true") || strings.EqualFold(v, "false"):
			out[k] = strings.EqualFold(v, "true")
		case json.Unmarshal([]byte(v), &decoded) == nil:
			out[k] = decoded
		default:
			out[k] = v
		}
	}
	return out
}

// wholeKV matches a value that is exactly one key of the store, the way StackStorm content
// reads a secret into a parameter: {{ st2kv.system.name | decrypt_kv }},
// <% st2kv('system.name', decrypt => true) %>, {{ st2kv('system.name', decrypt=true) }}.
var wholeKV = regexp.MustCompile(`^\s*(?:\{\{\s*st2kv\.system\.\w+(?:\s*\|\s*decrypt_kv)?\s*\}\}|<%\s*st2kv\([^()]*\)\s*%>|\{\{\s*st2kv\([^()]*\)\s*\}\})\s*$`)

// kvMembers tells, per parameter of a mapping (a task's input), which keys it reads, and
// which one it is as a whole: the policy that lets a secret key reach only a secret
// parameter, sealed (kvscope.SealParams).
func (v *st2Value) kvMembers() map[string]ruleeval.KVMember {
	if v.kind != mapValue {
		return nil
	}
	out := map[string]ruleeval.KVMember{}
	for i, k := range v.keys {
		m := ruleeval.KVMember{Refs: v.vals[i].kv}
		if len(m.Refs) == 0 {
			continue
		}
		if v.vals[i].kind == templateValue && len(m.Refs) == 1 && wholeKV.MatchString(v.vals[i].tmpl.Source()) {
			m.Whole = &m.Refs[0]
		}
		out[k] = m
	}
	return out
}
