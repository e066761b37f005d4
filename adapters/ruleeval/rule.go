// Package ruleeval decides whether a rule matches a trigger event and renders the rule's
// action parameters (design §5): StackStorm's criteria operators on paths into the event, or
// one boolean expression; parameter templates {{ expression }} over event, config and system.
// Expressions are github.com/expr-lang/expr, compiled once per rule.
//
// It is pure computation, kept out of domain/ only because it uses a third-party library.
// The rule matcher handler calls Compile (through a Cache) and Match / Render; the pack loader
// calls CheckRule to reject a bad rule at load time; `attune rule test` calls Explain.
package ruleeval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/attune-go/attune/domain/pack"
)

// Rule is a pack.Rule compiled: its criteria or expression, and its parameter templates.
// It is immutable and safe for concurrent use.
type Rule struct {
	ref      string
	criteria []*criterion
	cond     *program // the expression, if the rule has one
	condSrc  string
	condRefs []pathRef // what the expression reads, to explain a false result
	params   *Template
}

// Compile compiles r, or returns a *RuleError listing every problem: an unknown operator, a
// missing or ill-typed pattern, a bad regular expression, an expression or template that does
// not compile (with its position).
func Compile(r pack.Rule) (*Rule, error) {
	var ps problems
	out := &Rule{ref: r.Ref}
	if len(r.Criteria) > 0 && r.Expression != "" {
		ps.add([]string{"expression"}, "", "a rule has criteria or an expression, not both")
	}
	st2 := isStackStorm(r)
	out.criteria = compileCriteria(r.Criteria, "", []string{"criteria"}, &ps, st2)
	if r.Expression != "" {
		out.cond, out.condSrc, out.condRefs = compileCondition(r.Expression, &ps)
	}
	if st2 {
		out.params = compileJinjaParameters(r.Parameters, &ps)
	} else {
		out.params = compileParameters(r.Parameters, &ps)
	}
	if len(ps.list) > 0 {
		return nil, &RuleError{Rule: r.Ref, Problems: ps.list}
	}
	return out, nil
}

// CheckRule reports what Compile would reject, for the pack loader: a *RuleError whose
// Problems carry the path of each bad field in the rule file.
func CheckRule(r pack.Rule) error {
	_, err := Compile(r)
	return err
}

// compileCondition compiles a rule's expression: "{{ … }}" (the wrapper is optional).
func compileCondition(src string, ps *problems) (*program, string, []pathRef) {
	path := []string{"expression"}
	inner, start := src, 0
	if strings.Contains(src, "{{") {
		segs, err := splitTemplates(src)
		if err != nil {
			ps.list = append(ps.list, &Problem{Path: path, Source: src, Message: err.msg, Line: err.line, Column: err.col})
			return nil, "", nil
		}
		var exprs []segment
		for _, sg := range segs {
			if sg.isExpr {
				exprs = append(exprs, sg)
			} else if strings.TrimSpace(sg.text) != "" {
				exprs = nil
				break
			}
		}
		if len(exprs) != 1 {
			ps.add(path, src, "an expression is one {{ boolean expression }}, with no text around it")
			return nil, "", nil
		}
		inner, start = exprs[0].text, exprs[0].start
	}
	prog, err := compileExpr(inner, true)
	if err != nil {
		ps.addExpr(path, src, start, err)
		return nil, "", nil
	}
	// What the type checker knows (1 + 1 is an int) is rejected now; what it cannot know (a
	// payload field) is checked per event.
	if t := prog.prog.Node().Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		ps.add(path, src, "the expression gives %s, not true or false", t)
		return nil, "", nil
	}
	return prog, inner, referencedPaths(inner)
}

func compileParameters(raw json.RawMessage, ps *problems) *Template {
	path := []string{"parameters"}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if t := bytes.TrimSpace(raw); t[0] != '{' {
		ps.add(path, "", "parameters must be an object")
		return nil
	}
	return compileTemplate(raw, path, ps)
}

// Ref is the rule's ref.
func (r *Rule) Ref() string { return r.ref }

// Result is the outcome of matching a rule against an event.
type Result struct {
	Matched bool
	// Reason says why not, naming the criterion: "payload.level: equals 'error' but got
	// 'info'", or "expression is false: event.payload.count = 2". Empty when Matched.
	Reason string
	// Err is set when the rule could not be evaluated (the expression failed at run time, a
	// pattern template read a missing path): not a match either, but worth reporting.
	Err error
}

// Match tests the rule on the event in s: every criterion in path order, stopping at the
// first that fails; or the expression. A rule with neither matches every event of its
// trigger.
func (r *Rule) Match(s *Scope) Result {
	if r.cond != nil {
		return r.matchCondition(s)
	}
	ev := s.variables()[nameEvent]
	for _, c := range r.criteria {
		if ok, reason, err := c.eval(ev, s, false); !ok {
			return Result{Reason: reason, Err: err}
		}
	}
	return Result{Matched: true}
}

// Check is the outcome of one criterion (or of the expression), for `attune rule test`.
type Check struct {
	Path   string // the criterion's path, or "expression"
	OK     bool
	Reason string // "payload.level: equals 'error'" when OK, "… but got 'info'" when not
	Err    error
}

// Explain tests every criterion, not only up to the first failure, so a user sees at once
// everything that keeps the rule from matching.
func (r *Rule) Explain(s *Scope) []Check {
	if r.cond != nil {
		res := r.matchCondition(s)
		reason := res.Reason
		if res.Matched {
			reason = "expression is true: " + r.condSrc
		}
		return []Check{{Path: "expression", OK: res.Matched, Reason: reason, Err: res.Err}}
	}
	ev := s.variables()[nameEvent]
	out := make([]Check, 0, len(r.criteria))
	for _, c := range r.criteria {
		ok, reason, err := c.eval(ev, s, true)
		out = append(out, Check{Path: c.path, OK: ok, Reason: reason, Err: err})
	}
	return out
}

func (r *Rule) matchCondition(s *Scope) Result {
	out, err := r.cond.run(s.variables())
	if err != nil {
		return Result{Reason: "expression failed: " + exprMessage(err), Err: fmt.Errorf("evaluate expression %q: %w", r.condSrc, err)}
	}
	b, ok := out.(bool)
	if !ok {
		err := fmt.Errorf("expression %q gave %s (%s), not true or false", r.condSrc, show(out), kindOf(out))
		return Result{Reason: fmt.Sprintf("expression failed: it gave %s, not true or false", show(out)), Err: err}
	}
	if b {
		return Result{Matched: true}
	}
	return Result{Reason: "expression is false: " + r.condSrc + r.showRefs(s)}
}

// showRefs lists the values the expression read: "(event.payload.count = 2, …)".
func (r *Rule) showRefs(s *Scope) string {
	if len(r.condRefs) == 0 {
		return ""
	}
	vars := s.variables()
	parts := make([]string, len(r.condRefs))
	for i, ref := range r.condRefs {
		if v, ok := lookup(vars, ref.segs); ok {
			parts[i] = ref.text + " = " + show(v)
		} else {
			parts[i] = ref.text + " is missing"
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Render renders the rule's parameters for the event in s, as EnforcementCreated.Parameters
// records them: a JSON object ({} when the rule has none). An error is a *RenderError naming
// the parameter and the template.
func (r *Rule) Render(s *Scope) (json.RawMessage, error) {
	if r.params == nil {
		return json.RawMessage("{}"), nil
	}
	out, err := r.params.RenderJSON(s)
	if err != nil {
		return nil, fmt.Errorf("render parameters of rule %s: %w", r.ref, err)
	}
	return out, nil
}

// Cache keeps compiled rules by ref and recompiles one when its definition changes (a pack
// reload). The zero value is ready; it is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	rules map[string]cached
}

type cached struct {
	src  pack.Rule
	rule *Rule
	err  error
}

// Get returns r compiled, compiling it only if the cache holds no rule of that ref with the
// same criteria, expression and parameters. A compile error is cached too: a bad rule that
// slipped past the loader is reported per event, not recompiled per event.
func (c *Cache) Get(r pack.Rule) (*Rule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.rules[r.Ref]; ok && sameDefinition(e.src, r) {
		return e.rule, e.err
	}
	compiled, err := Compile(r)
	if c.rules == nil {
		c.rules = map[string]cached{}
	}
	c.rules[r.Ref] = cached{src: r, rule: compiled, err: err}
	return compiled, err
}

// Forget drops a rule (retired, or its pack removed).
func (c *Cache) Forget(ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rules, ref)
}

// sameDefinition compares what Compile reads.
func sameDefinition(a, b pack.Rule) bool {
	if a.Expression != b.Expression || a.Dialect != b.Dialect || !bytes.Equal(a.Parameters, b.Parameters) || len(a.Criteria) != len(b.Criteria) {
		return false
	}
	for k, ca := range a.Criteria {
		cb, ok := b.Criteria[k]
		if !ok || ca.Type != cb.Type || !bytes.Equal(ca.Pattern, cb.Pattern) {
			return false
		}
	}
	return true
}
