// Package st2expr evaluates StackStorm's expression languages: Jinja ({{ }}, {% %}, {# #}) on
// gonja, and the subset of YAQL (<% %>) that StackStorm content uses, on a parser of its own.
//
// A string is compiled once (Compile refuses, with its position, whatever cannot be evaluated)
// and rendered many times against an Env. Every render is bounded: a step budget, a cap on the
// size of any string or list it builds, and the caller's context (see budget.go).
package st2expr

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Func is a function the caller provides to expressions: ctx, task, result, item, succeeded,
// failed, completed, st2kv, …
type Func func(ctx context.Context, args ...any) (any, error)

// Env is what a render sees. Values are JSON-shaped (maps, lists, strings, numbers, bools,
// nil); decode JSON with UseNumber so that integers stay integers (json.Number is read as an
// int64 or a float64), as they do in StackStorm. A render never changes the values it reads,
// so one Env may serve concurrent renders.
type Env struct {
	Vars  map[string]any  // Jinja top-level names: trigger, st2kv, action parameters, config_context, ...
	Root  any             // YAQL's `$` (Orquesta: the workflow context, same as ctx())
	Funcs map[string]Func // caller-provided functions; a Func shadows a Var of the same name
}

// CallerFuncs are the names the engine provides through Env.Funcs (Orquesta's and StackStorm's
// runtime functions). Compile accepts calls to them; any other unknown function is refused.
var CallerFuncs = []string{"ctx", "task", "result", "item", "succeeded", "failed", "completed", "st2kv", "task_status", "decrypt_kv"}

// Template is one compiled string value.
type Template struct {
	src     string
	literal bool
	jinja   *jinjaTemplate // set when src holds Jinja
	yaql    *yaqlTemplate  // set when src holds YAQL
	names   []string
	funcs   []string
}

// Compile parses one string value that may hold {{ jinja }}, {% jinja statements %},
// {# comments #} or <% yaql %>. It refuses, with the line and column inside src, what cannot be
// evaluated: a YAQL construct or function outside the supported subset, an unknown Jinja
// filter or function, a syntax error. A string mixing Jinja and YAQL is refused (Orquesta
// evaluates one language per value).
func Compile(src string) (*Template, error) {
	if len(src) > maxSourceBytes {
		return nil, fmt.Errorf("expression is %d bytes, more than the %d an expression may hold", len(src), maxSourceBytes)
	}
	hasJinja := strings.Contains(src, "{{") || strings.Contains(src, "{%") || strings.Contains(src, "{#")
	hasYAQL := strings.Contains(src, "<%")
	t := &Template{src: src}
	var err error
	switch {
	case hasJinja && hasYAQL:
		return nil, fmt.Errorf("%q mixes Jinja ({{ }}) and YAQL (<%% %%>): a value uses one or the other", clip(src))
	case hasYAQL:
		t.yaql, err = compileYAQL(src)
		if err != nil {
			return nil, err
		}
		t.names, t.funcs = t.yaql.names, t.yaql.funcs
	case hasJinja:
		t.jinja, err = compileJinja(src)
		if err != nil {
			return nil, err
		}
		t.names, t.funcs = t.jinja.names, t.jinja.funcs
	default:
		t.literal = true
	}
	return t, nil
}

// Literal reports that the string holds no expression at all: Render returns it as it is.
func (t *Template) Literal() bool { return t.literal }

// Source is the string the template was compiled from.
func (t *Template) Source() string { return t.src }

// Names lists the top-level Jinja names (and YAQL $variables) the template reads, sorted.
func (t *Template) Names() []string { return slices.Clone(t.names) }

// Functions lists the functions the template calls (Jinja globals, YAQL functions and methods,
// st2expr's own and the caller's), sorted.
func (t *Template) Functions() []string { return slices.Clone(t.funcs) }

// Render evaluates the template. A src that is exactly one {{ expr }} or <% expr %> (blanks
// aside) yields the value with its type (map[string]any, []any, string, int64, float64, bool,
// nil) as Orquesta does; anything else renders to a string.
func (t *Template) Render(ctx context.Context, env Env) (out any, err error) {
	switch {
	case t.literal:
		return t.src, nil
	case t.yaql != nil:
		return t.yaql.render(ctx, env)
	default:
		return t.jinja.render(ctx, env)
	}
}

// RenderString is Render with the value written as a string (a string stays as it is; other
// values as StackStorm writes them: JSON for maps and lists).
func (t *Template) RenderString(ctx context.Context, env Env) (string, error) {
	v, err := t.Render(ctx, env)
	if err != nil {
		return "", err
	}
	return ToString(v), nil
}

// clip shortens src for an error message.
func clip(src string) string {
	const max = 80
	if len(src) <= max {
		return src
	}
	return src[:max] + "…"
}

// sortedKeys returns the keys of set, sorted.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
