package ruleeval

import (
	"encoding/json"
	"strings"

	"reflect"
)

// Templates outside rules (a workflow's task input, transitions and output) read other names
// than event, config and system. CompileTemplateIn compiles the same {{ }} syntax with the
// same typing rules against env, the names and functions the caller will supply at render
// time (example values: expr type-checks against them), and RenderIn renders with the real
// ones. They are strict like parameter templates: reading a key that does not exist on a
// chain rooted at one of env's names (vars.hosts, task.fetch.result.id, item.name), or at
// one of env's functions that take no argument (result().id), fails with a *MissingError
// naming the path, unless the template gives a default with ?? or reads with ?.

// CompileTemplateIn compiles the templates in raw against env. A compile failure is a
// *RuleError listing every bad template, located under path.
func CompileTemplateIn(raw json.RawMessage, env map[string]any, path ...string) (*Template, error) {
	var ps problems
	v, err := DecodeJSON(raw)
	if err != nil {
		ps.add(path, "", "%v", err)
		return nil, &RuleError{Problems: ps.list}
	}
	rs := envRoots(env)
	compile := func(src string) (*program, error) {
		return compileIn(src, env, &rs)
	}
	t := &Template{root: compileNodeWith(v, path, &ps, compile)}
	if len(ps.list) > 0 {
		return nil, &RuleError{Problems: ps.list}
	}
	return t, nil
}

// RenderIn renders a template compiled by CompileTemplateIn with the names in vars.
func (t *Template) RenderIn(vars map[string]any) (any, error) {
	if t == nil || t.root == nil {
		return nil, nil
	}
	return t.root.render(vars)
}

// compileNodeWith is compileNode with the expression compiler given.
func compileNodeWith(v any, path []string, ps *problems, compile func(string) (*program, error)) node {
	return compileTree(v, path, ps, func(s string, path []string, ps *problems) node {
		return compileStringWith(s, path, ps, compile)
	})
}

func compileStringWith(s string, path []string, ps *problems, compile func(string) (*program, error)) node {
	segs, serr := splitTemplates(s)
	if serr != nil {
		ps.list = append(ps.list, &Problem{Path: clonePath(path), Source: s, Message: serr.msg, Line: serr.line, Column: serr.col})
		return literal{s}
	}
	exprs, blank := 0, true
	for _, sg := range segs {
		if sg.isExpr {
			exprs++
		} else if strings.TrimSpace(sg.text) != "" {
			blank = false
		}
	}
	if exprs == 0 {
		return literal{s}
	}
	one := func(sg segment) *program {
		prog, err := compile(sg.text)
		if err != nil {
			ps.addExpr(path, s, sg.start, err)
			return nil
		}
		return prog
	}
	if exprs == 1 && blank {
		for _, sg := range segs {
			if sg.isExpr {
				return &whole{prog: one(sg), src: s, path: clonePath(path)}
			}
		}
	}
	m := &mixed{src: s, path: clonePath(path)}
	for _, sg := range segs {
		if sg.isExpr {
			m.parts = append(m.parts, part{prog: one(sg)})
		} else {
			m.parts = append(m.parts, part{text: sg.text})
		}
	}
	return m
}

// envRoots are the names of env a strict chain starts at: every name, and every function
// that takes no argument.
func envRoots(env map[string]any) roots {
	rs := roots{names: map[string]bool{}, calls: map[string]bool{}}
	for name, v := range env {
		if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Func {
			if t.NumIn() == 0 {
				rs.calls[name] = true
			}
			continue
		}
		rs.names[name] = true
	}
	return rs
}
