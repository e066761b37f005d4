package st2expr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
)

// yaqlTemplate is a compiled string holding <% YAQL %>: literal text and expressions.
type yaqlTemplate struct {
	src          string
	parts        []yaqlPart
	single       bool // the string is one <% %> (blanks aside): Render returns its value typed
	names, funcs []string
}

type yaqlPart struct {
	text string // the <% … %> as written (replaced in the output), or literal text
	expr yNode  // nil for literal text
}

// yaqlDelims finds <% … %>, as Orquesta's `<%.*?%>` does (here across lines too).
var yaqlDelims = regexp.MustCompile(`(?s)<%(.*?)%>`)

func compileYAQL(src string) (*yaqlTemplate, error) {
	if err := checkNesting(src); err != nil {
		return nil, fmt.Errorf("%q: %w", clip(src), err)
	}
	t := &yaqlTemplate{src: src}
	names, funcs := map[string]bool{}, map[string]bool{}
	last := 0
	for _, m := range yaqlDelims.FindAllStringSubmatchIndex(src, -1) {
		if m[0] > last {
			t.parts = append(t.parts, yaqlPart{text: src[last:m[0]]})
		}
		n, err := parseYAQL(src, src[m[2]:m[3]], m[2])
		if err != nil {
			return nil, err
		}
		if err := checkYAQL(src, n, names, funcs, map[string]bool{}); err != nil {
			return nil, err
		}
		t.parts = append(t.parts, yaqlPart{text: src[m[0]:m[1]], expr: n})
		last = m[1]
	}
	if rest := src[last:]; strings.Contains(rest, "<%") {
		return nil, &yaqlError{src, last + strings.Index(rest, "<%"), "<% is not closed by %>"}
	} else if rest != "" {
		t.parts = append(t.parts, yaqlPart{text: rest})
	}
	exprs := 0
	for _, p := range t.parts {
		if p.expr != nil {
			exprs++
		} else if strings.TrimSpace(p.text) != "" {
			exprs = 2 // text around the expression: the value is a string
		}
	}
	t.single = exprs == 1
	t.names, t.funcs = sortedKeys(names), sortedKeys(funcs)
	return t, nil
}

// checkYAQL refuses functions outside the subset and records the names and functions used.
// bound holds the variables a let() in scope binds.
func checkYAQL(src string, n yNode, names, funcs, bound map[string]bool) error {
	check := func(c yNode) error { return checkYAQL(src, c, names, funcs, bound) }
	switch x := n.(type) {
	case *yVar:
		if !bound[x.name] {
			names[x.name] = true
		}
	case *yMember:
		return check(x.x)
	case *yIndex:
		if err := check(x.x); err != nil {
			return err
		}
		return check(x.i)
	case *yUnary:
		return check(x.x)
	case *yList:
		for _, i := range x.items {
			if err := check(i); err != nil {
				return err
			}
		}
	case *yDict:
		for i := range x.keys {
			if err := check(x.keys[i]); err != nil {
				return err
			}
			if err := check(x.vals[i]); err != nil {
				return err
			}
		}
	case *yBinary:
		if err := check(x.l); err != nil {
			return err
		}
		if c, ok := x.l.(*yCall); ok && x.op == "->" && c.name == "let" && c.recv == nil {
			inner := map[string]bool{}
			for k := range bound {
				inner[k] = true
			}
			for _, kw := range c.kwargs {
				inner[kw.name] = true
			}
			return checkYAQL(src, x.r, names, funcs, inner)
		}
		return check(x.r)
	case *yCall:
		// The receiver and the arguments first: the leftmost problem is the one reported.
		if x.recv != nil {
			if err := check(x.recv); err != nil {
				return err
			}
		}
		for _, a := range x.args {
			if err := check(a); err != nil {
				return err
			}
		}
		for _, kw := range x.kwargs {
			if err := check(kw.v); err != nil {
				return err
			}
		}
		if _, ok := yaqlFunctions[x.name]; !ok && !isCallerFunc(x.name) {
			if _, st2 := st2Functions[x.name]; !st2 {
				return &yaqlError{src, x.pos, fmt.Sprintf("function %s() is not in Attune's YAQL subset (see docs/stackstorm/expressions.md)", x.name)}
			}
		}
		funcs[x.name] = true
	}
	return nil
}

// maxRecursion bounds Orquesta's re-evaluation of a string result that holds <% %> itself.
const maxRecursion = 4

func (t *yaqlTemplate) render(ctx context.Context, env Env) (any, error) {
	r := newRun(ctx, env)
	out, err := t.renderIn(r, 0)
	if err != nil {
		if r.stopped != nil && !errors.Is(err, ErrBudget) {
			err = r.stopped
		}
		return nil, fmt.Errorf("render %q: %w", clip(t.src), err)
	}
	return out, nil
}

func (t *yaqlTemplate) renderIn(r *run, depth int) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("evaluation failed: %v", p)
		}
	}()
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		e := &yeval{r: r, dollar: r.env.Root}
		v, err := e.eval(p.expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.TrimSpace(p.text), err)
		}
		// Orquesta evaluates a string result again when it holds an expression itself.
		if s, ok := v.(string); ok && strings.Contains(s, "<%") && depth < maxRecursion {
			if inner, err := compileYAQL(s); err == nil {
				if v, err = inner.renderIn(r, depth+1); err != nil {
					return nil, err
				}
			}
		}
		if t.single {
			return v, nil
		}
		s := pyStr(v)
		if err := checkString(b.Len() + len(s)); err != nil {
			return nil, r.stop(err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// yeval evaluates one expression: $ is the current value (the root, or an item inside
// select/where), vars the let() bindings in scope.
type yeval struct {
	r      *run
	dollar any
	vars   map[string]any
}

func (e *yeval) with(dollar any) *yeval { return &yeval{r: e.r, dollar: dollar, vars: e.vars} }

func (e *yeval) eval(n yNode) (any, error) {
	if err := e.r.step(1); err != nil {
		return nil, err
	}
	switch x := n.(type) {
	case *yLit:
		return x.v, nil
	case *yRoot:
		return normalize(e.dollar), nil
	case *yVar:
		if v, ok := e.vars[x.name]; ok {
			return v, nil
		}
		if v, ok := e.r.env.Vars[x.name]; ok {
			return normalize(v), nil
		}
		return nil, &UndefinedError{Path: "$" + x.name}
	case *yMember:
		obj, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		if obj == nil && x.safe {
			return nil, nil
		}
		if m, ok := obj.(map[string]any); ok {
			if v, ok := m[x.name]; ok {
				return v, nil
			}
		}
		return nil, &UndefinedError{Path: yaqlPath(x)}
	case *yIndex:
		return e.evalIndex(x)
	case *yList:
		if err := checkList(len(x.items)); err != nil {
			return nil, err
		}
		out := make([]any, len(x.items))
		for i, item := range x.items {
			v, err := e.eval(item)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *yDict:
		out := make(map[string]any, len(x.keys))
		for i := range x.keys {
			k, err := e.eval(x.keys[i])
			if err != nil {
				return nil, err
			}
			v, err := e.eval(x.vals[i])
			if err != nil {
				return nil, err
			}
			out[pyStr(k)] = v
		}
		return out, nil
	case *yUnary:
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "not":
			return !truthy(v), nil
		case "-":
			switch n := v.(type) {
			case int64:
				return -n, nil
			case float64:
				return -n, nil
			}
			return nil, fmt.Errorf("offset %d: -%s: not a number", x.pos, pyRepr(v))
		default:
			if _, ok := number(v); !ok {
				return nil, fmt.Errorf("offset %d: +%s: not a number", x.pos, pyRepr(v))
			}
			return v, nil
		}
	case *yBinary:
		return e.evalBinary(x)
	case *yCall:
		return e.call(x)
	}
	return nil, fmt.Errorf("offset %d: cannot evaluate %T", n.offset(), n)
}

// yaqlPath writes a lookup as the expression spells it, for "… does not exist".
func yaqlPath(n yNode) string {
	switch x := n.(type) {
	case *yRoot:
		return "$"
	case *yVar:
		return "$" + x.name
	case *yMember:
		sep := "."
		if x.safe {
			sep = "?."
		}
		return yaqlPath(x.x) + sep + x.name
	case *yIndex:
		return yaqlPath(x.x) + "[" + yaqlPath(x.i) + "]"
	case *yLit:
		return pyRepr(x.v)
	case *yCall:
		var args []string
		for _, a := range x.args {
			args = append(args, yaqlPath(a))
		}
		call := x.name + "(" + strings.Join(args, ", ") + ")"
		if x.recv != nil {
			return yaqlPath(x.recv) + "." + call
		}
		return call
	}
	return "…"
}

func (e *yeval) evalIndex(x *yIndex) (any, error) {
	obj, err := e.eval(x.x)
	if err != nil {
		return nil, err
	}
	idx, err := e.eval(x.i)
	if err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case []any:
		i, err := toInt(idx)
		if err != nil {
			return nil, fmt.Errorf("offset %d: a list index: %w", x.pos, err)
		}
		if i < 0 {
			i += int64(len(o))
		}
		if i >= 0 && i < int64(len(o)) {
			return o[i], nil
		}
	case map[string]any:
		if v, ok := o[pyStr(idx)]; ok {
			return v, nil
		}
	case string:
		i, err := toInt(idx)
		if err == nil {
			runes := []rune(o)
			if i < 0 {
				i += int64(len(runes))
			}
			if i >= 0 && i < int64(len(runes)) {
				return string(runes[i]), nil
			}
		}
	}
	return nil, &UndefinedError{Path: yaqlPath(x.x) + "[" + pyRepr(idx) + "]"}
}

func (e *yeval) evalBinary(x *yBinary) (any, error) {
	switch x.op {
	case "and", "or":
		l, err := e.eval(x.l)
		var undef *UndefinedError
		switch {
		case err != nil && x.op == "or" && errors.As(err, &undef):
			// `$.x or 'default'`: a missing key falls back, as StackStorm content expects.
			return e.eval(x.r)
		case err != nil:
			return nil, err
		case truthy(l) == (x.op == "or"):
			return l, nil
		}
		return e.eval(x.r)
	case "->":
		return e.arrow(x)
	}
	l, err := e.eval(x.l)
	if err != nil {
		return nil, err
	}
	r, err := e.eval(x.r)
	if err != nil {
		return nil, err
	}
	v, err := binary(x.op, l, r)
	if err != nil {
		return nil, e.r.stop(fmt.Errorf("offset %d: %s %s %s: %w", x.pos, clip(pyRepr(l)), x.op, clip(pyRepr(r)), err))
	}
	return v, nil
}

// arrow is `a -> b`: b evaluated with $ = a; when a is let(…), with its bindings too.
func (e *yeval) arrow(x *yBinary) (any, error) {
	if c, ok := x.l.(*yCall); ok && c.name == "let" && c.recv == nil {
		vars := make(map[string]any, len(e.vars)+len(c.kwargs))
		for k, v := range e.vars {
			vars[k] = v
		}
		for _, kw := range c.kwargs {
			v, err := e.eval(kw.v)
			if err != nil {
				return nil, err
			}
			vars[kw.name] = v
		}
		dollar := e.dollar
		if len(c.args) > 0 {
			v, err := e.eval(c.args[0])
			if err != nil {
				return nil, err
			}
			dollar = v
		}
		return (&yeval{r: e.r, dollar: dollar, vars: vars}).eval(x.r)
	}
	l, err := e.eval(x.l)
	if err != nil {
		return nil, err
	}
	return e.with(l).eval(x.r)
}

// binary is YAQL's arithmetic, comparison and membership on two values.
func binary(op string, l, r any) (any, error) {
	switch op {
	case "=":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "<", ">", "<=", ">=":
		c, ok := compare(l, r)
		if !ok {
			return nil, errors.New("values of these types cannot be compared")
		}
		return map[string]bool{"<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op], nil
	case "in":
		return contains(r, l), nil
	case "=~", "!~":
		re, err := compileRegex(op, r, false)
		if err != nil {
			return nil, err
		}
		return re.MatchString(ToString(l)) == (op == "=~"), nil
	case "*":
		// 'ab' * 2, as YAQL repeats a string.
		s, isStr := l.(string)
		n, isInt := r.(int64)
		if isStr && isInt {
			if n < 0 {
				n = 0
			}
			if n > maxStringBytes || checkString(len(s)*int(n)) != nil {
				return nil, checkString(maxStringBytes + 1)
			}
			return strings.Repeat(s, int(n)), nil
		}
	case "+":
		switch a := l.(type) {
		case string:
			if b, ok := r.(string); ok {
				if err := checkString(len(a) + len(b)); err != nil {
					return nil, err
				}
				return a + b, nil
			}
		case []any:
			if b, ok := r.([]any); ok {
				if err := checkList(len(a) + len(b)); err != nil {
					return nil, err
				}
				return append(append(make([]any, 0, len(a)+len(b)), a...), b...), nil
			}
		case map[string]any:
			if b, ok := r.(map[string]any); ok {
				out := make(map[string]any, len(a)+len(b))
				for k, v := range a {
					out[k] = v
				}
				for k, v := range b {
					out[k] = v
				}
				return out, nil
			}
		}
	}
	return arithmetic(op, l, r)
}

func arithmetic(op string, l, r any) (any, error) {
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	if lInt && rInt {
		switch op {
		case "+":
			return li + ri, nil
		case "-":
			return li - ri, nil
		case "*":
			return li * ri, nil
		case "/", "mod":
			if ri == 0 {
				return nil, errors.New("division by zero")
			}
			if op == "mod" {
				return ((li % ri) + ri) % ri, nil // Python's sign: the divisor's
			}
			return int64(math.Floor(float64(li) / float64(ri))), nil
		}
	}
	lf, lok := number(l)
	rf, rok := number(r)
	if !lok || !rok {
		return nil, errors.New("the operator needs two numbers (or two strings, lists or dicts for +)")
	}
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, errors.New("division by zero")
		}
		return lf / rf, nil
	case "mod":
		if rf == 0 {
			return nil, errors.New("division by zero")
		}
		return lf - rf*math.Floor(lf/rf), nil
	}
	return nil, fmt.Errorf("unknown operator %s", op)
}

// equal is YAQL's = : numbers by value (1 = 1.0), everything else deeply.
func equal(a, b any) bool {
	a, b = normalize(a), normalize(b)
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// contains is `x in coll`: an item of a list, a key of a dict, a substring of a string.
func contains(coll, x any) bool {
	switch c := coll.(type) {
	case []any:
		for _, v := range c {
			if equal(v, x) {
				return true
			}
		}
	case map[string]any:
		if s, ok := x.(string); ok {
			_, found := c[s]
			return found
		}
	case string:
		if s, ok := x.(string); ok {
			return strings.Contains(c, s)
		}
	}
	return false
}
