package ruleeval

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/attune-go/attune/domain/pack"
)

// criterion is one compiled criterion: a path into the event (or, inside search, into one
// list item), an operator and its pattern.
type criterion struct {
	path string   // as the rule wrote it: payload.level
	segs []string // payload, level
	op   *operator
	name string // the operator as the rule wrote it (an alias stays an alias in messages)
	// pattern is the constant pattern, prep what op.prepare made of it; or tmpl renders the
	// pattern per event when it holds a {{ template }}.
	pattern any
	prep    any
	tmpl    node
}

// searchSpec is the pattern of the search operator.
//
// StackStorm writes `condition` beside `type` and `pattern`; here a criterion has only type
// and pattern, so condition moves inside the pattern:
//
//	payload.fields:
//	  type: search
//	  pattern:
//	    condition: any          # or all
//	    criteria:               # StackStorm's nested `pattern`; that name is accepted too
//	      item.field_name: {type: equals, pattern: Status}
//	      item.to_value: {type: equals, pattern: Approved}
type searchSpec struct {
	all      bool
	criteria []*criterion // rooted at "item"
}

// compileCriteria compiles a rule's criteria in path order, so evaluation and explanations
// are the same on every run.
//
// st2 is set for a StackStorm rule: a key may end in #tag, a pattern may be Jinja.
func compileCriteria(cs map[string]pack.Criterion, root string, path []string, ps *problems, st2 bool) []*criterion {
	var out []*criterion
	for _, key := range slices.Sorted(maps.Keys(cs)) {
		if c := compileCriterion(key, cs[key], root, appendPath(path, key), ps, st2); c != nil {
			out = append(out, c)
		}
	}
	return out
}

func jsonOf(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode pattern: %w", err)
	}
	return b, nil
}

// compileCriterion compiles criteria[key]. root is "" for a rule (paths start at an event
// field) or "item" inside search.
func compileCriterion(key string, cr pack.Criterion, root string, path []string, ps *problems, st2 bool) *criterion {
	pathOK := true
	segs := strings.Split(untag(key, st2), ".")
	switch {
	case slices.Contains(segs, ""):
		ps.add(path, "", "%q is not a path: empty segment", key)
		pathOK = false
	case root != "" && segs[0] != root:
		ps.add(path, "", "%q: paths inside search start with %s (%s.field_name)", key, root, root)
		pathOK = false
	case root == "" && segs[0] == "trigger" && len(segs) > 1:
		// StackStorm's trigger.x is the payload; here trigger is the trigger's ref.
		ps.add(path, "", "%q: payload fields are payload.%s (trigger is the trigger's ref)", key, strings.Join(segs[1:], "."))
		pathOK = false
	case root == "" && !slices.Contains(eventFields, segs[0]):
		ps.add(path, "", "%q: paths start with one of the event's fields %s", key, strings.Join(eventFields, ", "))
		pathOK = false
	}
	name := strings.ToLower(cr.Type)
	op := operators[name]
	if op == nil {
		ps.add(appendPath(path, "type"), "", "unknown operator %q (want one of %s)", cr.Type, strings.Join(Operators(), ", "))
		return nil
	}
	c := &criterion{path: key, segs: segs, op: op, name: name}
	if root != "" {
		c.segs = segs[1:]
	}
	hasPattern := len(cr.Pattern) > 0
	if !hasPattern {
		if op.needsPattern {
			ps.add(path, "", "%s needs a pattern", name)
			return nil
		}
		if pathOK {
			return c
		}
		return nil
	}
	patternPath := appendPath(path, "pattern")
	pattern, err := DecodeJSON(cr.Pattern)
	if err != nil {
		ps.add(patternPath, "", "%v", err)
		return nil
	}
	if op.name == "search" {
		spec := compileSearch(pattern, patternPath, ps, st2)
		if spec == nil || !pathOK {
			return nil
		}
		c.pattern, c.prep = pattern, spec
		return c
	}
	if s, isString := pattern.(string); isString && st2 {
		if n, isJinja := jinjaPattern(s, patternPath, ps); isJinja {
			c.tmpl, c.pattern = n, s
			if !pathOK {
				return nil
			}
			return c
		}
	} else if isString && strings.Contains(s, "{{") {
		// A pattern may be a template ("{{ config.threshold }}"), rendered per event.
		n := len(ps.list)
		c.tmpl = compileString(s, patternPath, ps)
		if len(ps.list) > n || !pathOK {
			return nil
		}
		c.pattern = s
		return c
	}
	c.pattern, c.prep = pattern, pattern
	if op.prepare != nil {
		if c.prep, err = op.prepare(pattern); err != nil {
			ps.add(patternPath, "", "%s: %v", name, err)
			return nil
		}
	}
	if !pathOK {
		return nil
	}
	return c
}

func compileSearch(pattern any, path []string, ps *problems, st2 bool) *searchSpec {
	m, ok := pattern.(map[string]any)
	if !ok {
		ps.add(path, "", "search needs {condition: any|all, criteria: {item.x: {type, pattern}}} but got %s", kindOf(pattern))
		return nil
	}
	spec := &searchSpec{}
	switch m["condition"] {
	case "any":
	case "all":
		spec.all = true
	default:
		ps.add(appendPath(path, "condition"), "", "search condition must be any or all, got %s", show(m["condition"]))
	}
	key := "criteria"
	nested, hasCriteria := m["criteria"]
	if p, hasPattern := m["pattern"]; hasPattern {
		if hasCriteria {
			ps.add(path, "", "search takes criteria or pattern (the same thing), not both")
			return nil
		}
		key, nested = "pattern", p
	}
	for k := range m {
		if k != "condition" && k != key {
			ps.add(appendPath(path, k), "", "search does not take %q", k)
		}
	}
	obj, ok := nested.(map[string]any)
	if !ok || len(obj) == 0 {
		ps.add(appendPath(path, key), "", "search needs nested criteria {item.x: {type, pattern}}")
		return nil
	}
	cs := map[string]pack.Criterion{}
	for k, v := range obj {
		cm, ok := v.(map[string]any)
		typ, _ := cm["type"].(string)
		if !ok || typ == "" {
			ps.add(appendPath(path, key, k), "", "needs {type, pattern}")
			continue
		}
		cr := pack.Criterion{Type: typ}
		if p, has := cm["pattern"]; has {
			raw, err := jsonOf(p)
			if err != nil {
				ps.add(appendPath(path, key, k, "pattern"), "", "%v", err)
				continue
			}
			cr.Pattern = raw
		}
		cs[k] = cr
	}
	spec.criteria = compileCriteria(cs, "item", appendPath(path, key), ps, st2)
	return spec
}

// resolve reads segs from v: object keys, list indexes as decimal numbers.
func resolve(v any, segs []string) (any, bool) {
	for _, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			e, ok := x[s]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// eval tests c on root (the event view, or one search item). err is set when the test could
// not be carried out (a pattern template failed), as opposed to the value not matching. The
// reason is written for a failure, or for a success when explain is set: building it for
// every criterion that holds would cost more than the test.
func (c *criterion) eval(root any, s *Scope, explain bool) (ok bool, reason string, err error) {
	in := input{pattern: c.pattern, prep: c.prep, scope: s}
	if c.tmpl != nil {
		p, err := c.tmpl.render(s.variables())
		if err != nil {
			return false, fmt.Sprintf("%s: %s: %s", c.path, c.name, exprMessage(err)), err
		}
		in.pattern, in.prep = p, p
		if c.op.prepare != nil {
			if in.prep, err = c.op.prepare(p); err != nil {
				return false, fmt.Sprintf("%s: %s %s: %v", c.path, c.name, show(p), err), err
			}
		}
	}
	in.value, in.present = resolve(root, c.segs)
	why := ""
	switch {
	case !in.present && c.op.onMissing == missingFails:
		ok, why = false, "but it is missing"
	default:
		if !in.present && c.op.onMissing == missingIsNull {
			in.value = nil
		}
		ok, why = c.op.test(in)
	}
	if ok && !explain {
		return true, "", nil
	}
	head := c.path + ": " + c.name
	if c.op.needsPattern && c.op.name != "search" { // a search's pattern is a tree: its misses say more
		head += " " + show(in.pattern)
	}
	if ok {
		return true, head, nil
	}
	if why == "" {
		why = "but got " + show(in.value)
	}
	return false, head + " " + why, nil
}

// searchTest runs the nested criteria on every item of the list.
func searchTest(in input) (bool, string) {
	spec := in.prep.(*searchSpec)
	items, ok := in.value.([]any)
	if !ok {
		return false, fmt.Sprintf("but got %s, which is not a list", show(in.value))
	}
	cond := "any"
	if spec.all {
		cond = "all"
	}
	var misses []string
	for i, item := range items {
		reason, matched := spec.matchItem(item, in.scope)
		if matched && !spec.all {
			return true, ""
		}
		if !matched {
			misses = append(misses, fmt.Sprintf("item %d: %s", i, reason))
			if spec.all {
				return false, fmt.Sprintf("(%s) but %s", cond, misses[0])
			}
		}
	}
	if spec.all {
		return true, ""
	}
	if len(items) == 0 {
		return false, "(any) but the list is empty"
	}
	const shown = 3 // enough to see the pattern of misses without flooding a log line
	more := ""
	if len(misses) > shown {
		more = fmt.Sprintf("; … %d more", len(misses)-shown)
		misses = misses[:shown]
	}
	return false, fmt.Sprintf("(any) but no item matched: %s%s", strings.Join(misses, "; "), more)
}

// matchItem tests every nested criterion on one item; reason is the first failure.
func (spec *searchSpec) matchItem(item any, s *Scope) (reason string, ok bool) {
	for _, c := range spec.criteria {
		ok, reason, _ := c.eval(item, s, false)
		if !ok {
			return reason, false
		}
	}
	return "", true
}
