package ruleeval

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/file"
)

// Problem is one thing wrong with a rule, located so that the pack loader can point at the
// YAML line: Path walks the rule's fields the way the rule file nests them
// (["parameters", "headers", "X-Token"], ["criteria", "payload.level", "pattern"],
// ["expression"]); list elements are decimal indexes.
type Problem struct {
	Path []string
	// Source is the offending text: the whole string holding a bad template, or the
	// expression. Empty when the problem is not in a text (an unknown operator).
	Source string
	// Line and Column (1-based, in runes) locate the problem inside Source; 0 when unknown.
	Line, Column int
	Message      string
}

// Where renders Path as a dotted path with indexes in brackets: parameters.items[0].name.
func (p *Problem) Where() string {
	var b strings.Builder
	for i, seg := range p.Path {
		if _, err := strconv.Atoi(seg); err == nil && i > 0 {
			b.WriteString("[" + seg + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Where())
	b.WriteString(": ")
	if p.Source != "" {
		fmt.Fprintf(&b, "%s: ", strconv.Quote(p.Source))
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (at %d:%d)", p.Line, p.Column)
	}
	return b.String()
}

// RuleError lists every problem Compile found in one rule (or CompileTemplate in one
// template, with Rule empty), so a pack author fixes them in one pass rather than one per
// reload.
type RuleError struct {
	Rule     string // the rule's ref
	Problems []*Problem
}

func (e *RuleError) Error() string {
	prefix := "rule " + e.Rule + ": "
	if e.Rule == "" { // a template compiled on its own
		prefix = ""
	}
	if len(e.Problems) == 1 {
		return prefix + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d problems:", prefix, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// problems collects Problems while a rule compiles.
type problems struct{ list []*Problem }

func (ps *problems) add(path []string, source, format string, args ...any) {
	ps.list = append(ps.list, &Problem{Path: clonePath(path), Source: source, Message: fmt.Sprintf(format, args...)})
}

// addExpr records an expr compile error, moving its position from the expression (which
// starts at rune offset start of source) to source.
func (ps *problems) addExpr(path []string, source string, start int, err error) {
	p := &Problem{Path: clonePath(path), Source: source, Message: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		p.Message = fe.Message
		p.Line, p.Column = position(source, start+fe.From)
	}
	ps.list = append(ps.list, p)
}

// position is the 1-based line and column of rune offset off in s.
func position(s string, off int) (line, col int) {
	line, col = 1, 1
	n := 0
	for _, r := range s {
		if n == off {
			break
		}
		n++
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func clonePath(p []string) []string { return append([]string(nil), p...) }

func appendPath(p []string, seg ...string) []string {
	return append(clonePath(p), seg...)
}
