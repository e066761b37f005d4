package ruleeval

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Template is a JSON value whose strings may hold {{ expression }} templates, compiled once.
//
// A string that is exactly one template (surrounding blanks aside) renders to the
// expression's value with its JSON type: "{{ event.payload.count }}" is the number 42,
// "{{ event.payload }}" an object. A string that mixes text and templates renders to a
// string, each value interpolated in its JSON form (strings bare). Objects and lists render
// member by member; keys are never templates.
type Template struct {
	root node
}

// RenderError is a template that failed to render: it names the parameter and the template.
type RenderError struct {
	Path     []string // as in Problem.Path: ["parameters", "message"]
	Template string   // the whole string holding the template
	Err      error    // *MissingError when the template read a path that does not exist
}

// Where renders Path like Problem.Where: parameters.body.lines[1].
func (e *RenderError) Where() string { return (&Problem{Path: e.Path}).Where() }

func (e *RenderError) Error() string {
	return fmt.Sprintf("%s: template %s: %s", e.Where(), strconv.Quote(e.Template), exprMessage(e.Err))
}

func (e *RenderError) Unwrap() error { return e.Err }

// CompileTemplate compiles the templates in raw (any JSON value). path prefixes the
// locations of problems and render errors (["parameters"] for a rule's parameters). A
// compile failure is a *RuleError with Rule empty, listing every bad template.
func CompileTemplate(raw json.RawMessage, path ...string) (*Template, error) {
	var ps problems
	t := compileTemplate(raw, path, &ps)
	if len(ps.list) > 0 {
		return nil, &RuleError{Problems: ps.list}
	}
	return t, nil
}

func compileTemplate(raw json.RawMessage, path []string, ps *problems) *Template {
	v, err := DecodeJSON(raw)
	if err != nil {
		ps.add(path, "", "%v", err)
		return nil
	}
	return &Template{root: compileNode(v, path, ps)}
}

// Render renders the template against s. The result is DecodeJSON-shaped plus whatever the
// expressions built (expr may return []string, time.Time …); RenderJSON serialises it.
func (t *Template) Render(s *Scope) (any, error) {
	if t == nil || t.root == nil {
		return nil, nil
	}
	return t.root.render(s.variables())
}

// RenderJSON renders the template as JSON, for EnforcementCreated.Parameters.
func (t *Template) RenderJSON(s *Scope) (json.RawMessage, error) {
	v, err := t.Render(s)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode rendered parameters as JSON: %w", err)
	}
	return b, nil
}

type node interface {
	render(vars map[string]any) (any, error)
}

type literal struct{ v any }

func (n literal) render(map[string]any) (any, error) { return n.v, nil }

type object struct {
	keys  []string
	nodes []node
}

func (n *object) render(vars map[string]any) (any, error) {
	out := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		v, err := n.nodes[i].render(vars)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

type list []node

func (n list) render(vars map[string]any) (any, error) {
	out := make([]any, len(n))
	for i, e := range n {
		v, err := e.render(vars)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// whole is a string that is exactly one template: its value keeps its type.
type whole struct {
	prog *program
	src  string
	path []string
}

func (n *whole) render(vars map[string]any) (any, error) {
	v, err := n.prog.run(vars)
	if err != nil {
		return nil, &RenderError{Path: n.path, Template: n.src, Err: err}
	}
	return v, nil
}

// mixed is text with templates in it: always a string.
type mixed struct {
	parts []part
	src   string
	path  []string
}

type part struct {
	text string
	prog *program // nil for plain text
}

func (n *mixed) render(vars map[string]any) (any, error) {
	var b strings.Builder
	for _, p := range n.parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.prog.run(vars)
		if err != nil {
			return nil, &RenderError{Path: n.path, Template: n.src, Err: err}
		}
		if err := interpolate(&b, v); err != nil {
			return nil, &RenderError{Path: n.path, Template: n.src, Err: err}
		}
	}
	return b.String(), nil
}

// interpolate writes v into text: a string as it is, anything else in its JSON form
// (42, true, null, {"a":1}), which is what a reader of the rendered text expects to see.
func interpolate(b *strings.Builder, v any) error {
	if s, ok := v.(string); ok {
		b.WriteString(s)
		return nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot write %T into text: %w", v, err)
	}
	b.WriteString(string(enc))
	return nil
}

func compileNode(v any, path []string, ps *problems) node {
	return compileTree(v, path, ps, compileString)
}

// compileTree compiles a JSON value member by member, each string with str: the templates of
// Attune's rules, of workflows, or of StackStorm's rules.
func compileTree(v any, path []string, ps *problems, str func(s string, path []string, ps *problems) node) node {
	switch x := v.(type) {
	case map[string]any:
		o := &object{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			o.keys = append(o.keys, k)
			o.nodes = append(o.nodes, compileTree(x[k], appendPath(path, k), ps, str))
		}
		return o
	case []any:
		l := make(list, len(x))
		for i, e := range x {
			l[i] = compileTree(e, appendPath(path, strconv.Itoa(i)), ps, str)
		}
		return l
	case string:
		return str(x, path, ps)
	default:
		return literal{v}
	}
}

// compileString compiles one string value; it returns a literal when s holds no template.
func compileString(s string, path []string, ps *problems) node {
	segs, err := splitTemplates(s)
	if err != nil {
		ps.list = append(ps.list, &Problem{Path: clonePath(path), Source: s, Message: err.msg, Line: err.line, Column: err.col})
		return literal{s}
	}
	exprs := 0
	blank := true
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
	compile := func(sg segment) *program {
		prog, err := compileExpr(sg.text, true)
		if err != nil {
			ps.addExpr(path, s, sg.start, err)
			return nil
		}
		return prog
	}
	if exprs == 1 && blank {
		for _, sg := range segs {
			if sg.isExpr {
				return &whole{prog: compile(sg), src: s, path: clonePath(path)}
			}
		}
	}
	m := &mixed{src: s, path: clonePath(path)}
	for _, sg := range segs {
		if sg.isExpr {
			m.parts = append(m.parts, part{prog: compile(sg)})
		} else {
			m.parts = append(m.parts, part{text: sg.text})
		}
	}
	return m
}

// segment is a run of plain text or the expression of one {{ }}.
type segment struct {
	text   string
	isExpr bool
	start  int // rune offset of the expression in the whole string
	at     int // byte offset of a text segment in the whole string
}

type splitError struct {
	msg       string
	line, col int
}

// splitTemplates cuts s into text and {{ expression }} segments. A template ends at the
// first }} that is outside the expression's string literals and braces, so
// {{ {'a': {'b': 1}} }} and {{ '}}' }} are one template each. This only finds the
// delimiters; expr parses what is between them.
func splitTemplates(s string) ([]segment, *splitError) {
	var segs []segment
	text := func(from, to int) {
		if from < to {
			segs = append(segs, segment{text: s[from:to], at: from})
		}
	}
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			text(i, len(s))
			break
		}
		open := i + j
		text(i, open)
		end, ok := closing(s, open+2)
		if !ok {
			line, col := position(s, utf8.RuneCountInString(s[:open]))
			return nil, &splitError{msg: "{{ is never closed by }}", line: line, col: col}
		}
		inner := s[open+2 : end]
		trimmed := strings.TrimSpace(inner)
		lead := len(inner) - len(strings.TrimLeft(inner, " \t\r\n"))
		if trimmed == "" {
			line, col := position(s, utf8.RuneCountInString(s[:open]))
			return nil, &splitError{msg: "empty template {{ }}", line: line, col: col}
		}
		segs = append(segs, segment{text: trimmed, isExpr: true, start: utf8.RuneCountInString(s[:open+2+lead])})
		i = end + 2
	}
	// Jinja statements and comments are not templates here; leaving them as literal text
	// would send "{% if … %}" to an action, so a StackStorm habit is reported instead.
	for _, sg := range segs {
		if sg.isExpr {
			continue
		}
		for _, delim := range [][2]string{{"{%", "%}"}, {"{#", "#}"}} {
			if k := strings.Index(sg.text, delim[0]); k >= 0 && strings.Contains(sg.text[k:], delim[1]) {
				off := sg.at + k
				line, col := position(s, utf8.RuneCountInString(s[:off]))
				return nil, &splitError{msg: delim[0] + " " + delim[1] + " blocks are not supported: write one {{ expression }}", line: line, col: col}
			}
		}
	}
	return segs, nil
}

// closing finds the }} that ends the template whose expression starts at from.
func closing(s string, from int) (int, bool) {
	depth := 0
	var quote byte
	for k := from; k < len(s); k++ {
		c := s[k]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				k++
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			quote = c
		case '{', '[', '(':
			depth++
		case ')', ']':
			depth--
		case '}':
			if depth == 0 && k+1 < len(s) && s[k+1] == '}' {
				return k, true
			}
			depth--
		}
	}
	return 0, false
}
