package st2expr

import (
	"fmt"
	"strconv"
	"strings"
)

// YAQL has no Go implementation. This file is a lexer and a Pratt parser for the part of YAQL
// that StackStorm content writes (see docs/stackstorm/expressions.md for the subset); whatever
// it does not know is refused with its offset, never passed through as text.

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tStr
	tIdent  // a bare name: a function's name before '(', a string otherwise (YAQL's keyword strings)
	tDollar // $ or $name
	tOp
)

type token struct {
	kind tokKind
	text string // the operator, identifier, $name (without $), or the string's value
	num  any    // int64 or float64 for tNum
	pos  int    // byte offset inside the expression's source
}

// yaqlError is a problem at an offset of the whole string value.
type yaqlError struct {
	src string
	pos int
	msg string
}

func (e *yaqlError) Error() string {
	return fmt.Sprintf("%q: offset %d: %s", clip(e.src), e.pos, e.msg)
}

// operators, longest first.
var yaqlOperators = []string{"=>", "->", "!=", "<=", ">=", "=~", "!~", "?.", "=", "<", ">", "+", "-", "*", "/", ".", ",", "(", ")", "[", "]", "{", "}"}

// lex splits one expression (the text between <% and %>) into tokens; base is its offset in
// the whole string value.
func lex(src, expr string, base int) ([]token, error) {
	var out []token
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(expr) && expr[j] >= '0' && expr[j] <= '9' {
				j++
			}
			isFloat := false
			if j+1 < len(expr) && expr[j] == '.' && expr[j+1] >= '0' && expr[j+1] <= '9' {
				isFloat = true
				j++
				for j < len(expr) && expr[j] >= '0' && expr[j] <= '9' {
					j++
				}
			}
			if j < len(expr) && (expr[j] == 'e' || expr[j] == 'E') {
				k := j + 1
				if k < len(expr) && (expr[k] == '+' || expr[k] == '-') {
					k++
				}
				if k < len(expr) && expr[k] >= '0' && expr[k] <= '9' {
					isFloat = true
					for j = k; j < len(expr) && expr[j] >= '0' && expr[j] <= '9'; j++ {
					}
				}
			}
			t := token{kind: tNum, text: expr[i:j], pos: base + i}
			if isFloat {
				f, err := strconv.ParseFloat(t.text, 64)
				if err != nil {
					return nil, &yaqlError{src, base + i, "number " + t.text + " cannot be read"}
				}
				t.num = f
			} else {
				n, err := strconv.ParseInt(t.text, 10, 64)
				if err != nil {
					return nil, &yaqlError{src, base + i, "number " + t.text + " is out of range"}
				}
				t.num = n
			}
			out = append(out, t)
			i = j
		case c == '\'' || c == '"' || c == '`':
			s, n, err := lexString(expr[i:])
			if err != nil {
				return nil, &yaqlError{src, base + i, err.Error()}
			}
			out = append(out, token{kind: tStr, text: s, pos: base + i})
			i += n
		case c == '$':
			j := i + 1
			for j < len(expr) && isIdentByte(expr[j], j > i+1) {
				j++
			}
			out = append(out, token{kind: tDollar, text: expr[i+1 : j], pos: base + i})
			i = j
		case isIdentByte(c, false):
			j := i
			for j < len(expr) && isIdentByte(expr[j], true) {
				j++
			}
			out = append(out, token{kind: tIdent, text: expr[i:j], pos: base + i})
			i = j
		default:
			op := ""
			for _, o := range yaqlOperators {
				if strings.HasPrefix(expr[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, &yaqlError{src, base + i, fmt.Sprintf("%q is not part of Attune's YAQL subset", string(expr[i]))}
			}
			out = append(out, token{kind: tOp, text: op, pos: base + i})
			i += len(op)
		}
	}
	return append(out, token{kind: tEOF, pos: base + len(expr)}), nil
}

func isIdentByte(c byte, notFirst bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (notFirst && c >= '0' && c <= '9')
}

// lexString reads a quoted string: '…' and "…" with Python's backslash escapes, `…` as it is.
func lexString(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && q != '`' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("the string starting here is not closed")
}

// The parse tree.
type (
	yNode interface{ offset() int }

	yLit struct {
		v   any
		pos int
	}
	yRoot struct{ pos int } // $
	yVar  struct {
		name string
		pos  int
	} // $name
	yMember struct {
		x    yNode
		name string
		safe bool // ?.
		pos  int
	}
	yIndex struct {
		x, i yNode
		pos  int
	}
	yCall struct {
		name   string
		recv   yNode // the value before '.' of a method call, nil for a function call
		args   []yNode
		kwargs []yKwarg
		pos    int
	}
	yKwarg struct {
		name string
		v    yNode
	}
	yBinary struct {
		op   string
		l, r yNode
		pos  int
	}
	yUnary struct {
		op  string
		x   yNode
		pos int
	}
	yList struct {
		items []yNode
		pos   int
	}
	yDict struct {
		keys, vals []yNode
		pos        int
	}
)

func (n *yLit) offset() int    { return n.pos }
func (n *yRoot) offset() int   { return n.pos }
func (n *yVar) offset() int    { return n.pos }
func (n *yMember) offset() int { return n.pos }
func (n *yIndex) offset() int  { return n.pos }
func (n *yCall) offset() int   { return n.pos }
func (n *yBinary) offset() int { return n.pos }
func (n *yUnary) offset() int  { return n.pos }
func (n *yList) offset() int   { return n.pos }
func (n *yDict) offset() int   { return n.pos }

// binding powers (YAQL's operator table, highest last).
var infixPower = map[string]int{
	"->": 10, "or": 20, "and": 30,
	"=": 50, "!=": 50, "<": 50, ">": 50, "<=": 50, ">=": 50, "=~": 50, "!~": 50, "in": 50,
	"+": 60, "-": 60, "*": 70, "/": 70, "mod": 70,
	".": 90, "?.": 90, "[": 90,
}

const (
	notPower   = 40 // `not a = b` is not (a = b)
	unaryPower = 80
)

type yparser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *yparser) peek() token { return p.toks[p.i] }
func (p *yparser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *yparser) fail(pos int, format string, args ...any) error {
	return &yaqlError{p.src, pos, fmt.Sprintf(format, args...)}
}

func (p *yparser) expect(op string) (token, error) {
	t := p.next()
	if t.kind != tOp || t.text != op {
		return t, p.fail(t.pos, "expected %q, found %s", op, describe(t))
	}
	return t, nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tStr:
		return strconv.Quote(t.text)
	case tDollar:
		return "$" + t.text
	}
	return strconv.Quote(t.text)
}

// opOf is the infix operator a token is, if any (and, or, in, mod are words).
func opOf(t token) string {
	switch {
	case t.kind == tOp:
		return t.text
	case t.kind == tIdent && (t.text == "and" || t.text == "or" || t.text == "in" || t.text == "mod"):
		return t.text
	}
	return ""
}

func (p *yparser) parseExpr(minPower int) (yNode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, p.fail(p.peek().pos, "the expression nests more than %d deep", maxNesting)
	}
	left, err := p.parsePrefix()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		op := opOf(t)
		power, ok := infixPower[op]
		if !ok || power <= minPower {
			return left, nil
		}
		p.next()
		switch op {
		case ".", "?.":
			name := p.next()
			if name.kind != tIdent {
				return nil, p.fail(name.pos, "expected a name after %q, found %s", op, describe(name))
			}
			if nt := p.peek(); nt.kind == tOp && nt.text == "(" {
				call, err := p.parseCall(name)
				if err != nil {
					return nil, err
				}
				call.recv = left
				left = call
				continue
			}
			left = &yMember{x: left, name: name.text, safe: op == "?.", pos: name.pos}
		case "[":
			idx, err := p.parseExpr(0)
			if err != nil {
				return nil, err
			}
			if _, err := p.expect("]"); err != nil {
				return nil, err
			}
			left = &yIndex{x: left, i: idx, pos: t.pos}
		default:
			if op == "->" {
				power-- // right-associative: let(a => 1) -> let(b => $a) -> $b
			}
			right, err := p.parseExpr(power)
			if err != nil {
				return nil, err
			}
			left = &yBinary{op: op, l: left, r: right, pos: t.pos}
		}
	}
}

func (p *yparser) parsePrefix() (yNode, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		return &yLit{v: t.num, pos: t.pos}, nil
	case tStr:
		return &yLit{v: t.text, pos: t.pos}, nil
	case tDollar:
		if t.text == "" {
			return &yRoot{pos: t.pos}, nil
		}
		return &yVar{name: t.text, pos: t.pos}, nil
	case tIdent:
		switch t.text {
		case "true":
			return &yLit{v: true, pos: t.pos}, nil
		case "false":
			return &yLit{v: false, pos: t.pos}, nil
		case "null":
			return &yLit{v: nil, pos: t.pos}, nil
		case "not":
			x, err := p.parseExpr(notPower)
			if err != nil {
				return nil, err
			}
			return &yUnary{op: "not", x: x, pos: t.pos}, nil
		case "and", "or", "in", "mod":
			return nil, p.fail(t.pos, "expected a value, found %q", t.text)
		}
		if nt := p.peek(); nt.kind == tOp && nt.text == "(" {
			return p.parseCall(t)
		}
		return &yLit{v: t.text, pos: t.pos}, nil // YAQL reads a bare name as a string
	case tOp:
		switch t.text {
		case "-", "+":
			x, err := p.parseExpr(unaryPower)
			if err != nil {
				return nil, err
			}
			return &yUnary{op: t.text, x: x, pos: t.pos}, nil
		case "(":
			x, err := p.parseExpr(0)
			if err != nil {
				return nil, err
			}
			_, err = p.expect(")")
			return x, err
		case "[":
			items, _, err := p.parseArgs("]", false)
			if err != nil {
				return nil, err
			}
			return &yList{items: items, pos: t.pos}, nil
		case "{":
			return p.parseDict(t)
		}
	}
	return nil, p.fail(t.pos, "expected a value, found %s", describe(t))
}

// parseCall reads name(args) with the name already read.
func (p *yparser) parseCall(name token) (*yCall, error) {
	p.next() // (
	args, kwargs, err := p.parseArgs(")", true)
	if err != nil {
		return nil, err
	}
	return &yCall{name: name.text, args: args, kwargs: kwargs, pos: name.pos}, nil
}

// parseArgs reads a comma-separated list up to end; name => value pairs are keyword arguments
// where allowed.
func (p *yparser) parseArgs(end string, kw bool) ([]yNode, []yKwarg, error) {
	var args []yNode
	var kwargs []yKwarg
	if t := p.peek(); t.kind == tOp && t.text == end {
		p.next()
		return nil, nil, nil
	}
	for {
		if t := p.peek(); kw && (t.kind == tIdent || t.kind == tStr) && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == "=>" {
			p.i += 2
			v, err := p.parseExpr(0)
			if err != nil {
				return nil, nil, err
			}
			kwargs = append(kwargs, yKwarg{name: t.text, v: v})
		} else {
			v, err := p.parseExpr(0)
			if err != nil {
				return nil, nil, err
			}
			if len(kwargs) > 0 {
				return nil, nil, p.fail(v.offset(), "a positional argument after keyword arguments")
			}
			args = append(args, v)
		}
		t := p.next()
		if t.kind == tOp && t.text == end {
			return args, kwargs, nil
		}
		if t.kind != tOp || t.text != "," {
			return nil, nil, p.fail(t.pos, "expected \",\" or %q, found %s", end, describe(t))
		}
	}
}

// parseDict reads {key => value, …}.
func (p *yparser) parseDict(open token) (yNode, error) {
	d := &yDict{pos: open.pos}
	if t := p.peek(); t.kind == tOp && t.text == "}" {
		p.next()
		return d, nil
	}
	for {
		k, err := p.parseExpr(0)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("=>"); err != nil {
			return nil, err
		}
		v, err := p.parseExpr(0)
		if err != nil {
			return nil, err
		}
		d.keys, d.vals = append(d.keys, k), append(d.vals, v)
		t := p.next()
		if t.kind == tOp && t.text == "}" {
			return d, nil
		}
		if t.kind != tOp || t.text != "," {
			return nil, p.fail(t.pos, "expected \",\" or \"}\", found %s", describe(t))
		}
	}
}

// parseYAQL parses the expression between <% and %> (at offset base of src).
func parseYAQL(src, expr string, base int) (yNode, error) {
	toks, err := lex(src, expr, base)
	if err != nil {
		return nil, err
	}
	p := &yparser{src: src, toks: toks}
	if p.peek().kind == tEOF {
		return nil, p.fail(base, "an empty expression")
	}
	n, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.fail(t.pos, "unexpected %s", describe(t))
	}
	return n, nil
}
