package st2expr

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// gonja's parse tree is plain structs, but some statements (set, with, filter) keep their
// expressions in unexported fields, and gonja offers no visitor that reaches into them. The
// checks below must see every expression — a filter nobody checked, or a `*` inside a
// {% set %} that nobody bounded, is exactly what a hostile template would use — so the tree
// is walked by reflection, and unexported fields are reached through unsafe (the only way
// reflect lets a field be written). gonja is pinned (v2.9.1); TestJinjaWalkReachesStatements
// fails if a release moves an expression out of the walk's reach.

// jinjaCheck is what one walk of a parsed template finds and refuses.
type jinjaCheck struct {
	names   map[string]bool // top-level names read
	bound   map[string]bool // names the template assigns (loop variables, set targets)
	callees map[*nodes.Name]bool
	funcs   map[string]bool
	paths   map[string]string // gonja's spelling of a lookup → the template's (pretty)
	outputs []*nodes.Output
	err     error
	seen    map[uintptr]bool
}

// refuse records the first problem, at a token's position.
func (c *jinjaCheck) refuse(tok *tokens.Token, format string, args ...any) {
	if c.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if tok != nil {
		msg = fmt.Sprintf("line %d, column %d (offset %d): %s", tok.Line, tok.Col, tok.Pos, msg)
	}
	c.err = fmt.Errorf("%s", msg)
}

var (
	tokType = reflect.TypeFor[tokens.Token]()
)

// walk visits every node under v (settable), replacing nodes that replace returns.
func (c *jinjaCheck) walk(v reflect.Value, field string) {
	if c.err != nil {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type().Elem() == tokType {
			return
		}
		if c.seen[v.Pointer()] { // Call.Parent points back up the tree
			return
		}
		c.seen[v.Pointer()] = true
		switch x := v.Interface().(type) {
		case *nodes.FilterCall:
			if !jinjaFilterExists(x.Name) {
				c.refuse(x.Token, "unknown filter %q", x.Name)
			}
			if !strings.HasPrefix(x.Name, "$") {
				c.funcs[x.Name] = true
			}
		case *nodes.TestCall:
			if !jinjaTestExists(x.Name) {
				c.refuse(x.Token, "unknown test %q", x.Name)
			}
		}
		if n, ok := v.Interface().(nodes.Node); ok {
			if repl := c.visit(n, field); repl != nil && v.CanSet() {
				v.Set(reflect.ValueOf(repl))
				c.walk(v, field)
				return
			}
		}
		c.walk(v.Elem(), field)
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		inner := v.Elem()
		if n, ok := inner.Interface().(nodes.Node); ok && inner.Kind() == reflect.Pointer {
			if repl := c.visit(n, field); repl != nil && v.CanSet() && reflect.TypeOf(repl).Implements(v.Type()) {
				v.Set(reflect.ValueOf(repl))
			}
			if inner = v.Elem(); !c.seen[inner.Pointer()] {
				c.seen[inner.Pointer()] = true
				c.walk(inner.Elem(), field)
			}
			return
		}
		c.walk(inner, field)
	case reflect.Struct:
		if !fromGonja(v.Type()) {
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			if !f.CanSet() && f.CanAddr() {
				f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			}
			c.walk(f, v.Type().Field(i).Name)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			c.walk(v.Index(i), field)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if field == "pairs" && iter.Key().Kind() == reflect.String { // {% with name = … %}
				c.bound[iter.Key().String()] = true
			}
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(iter.Value())
			c.walk(val, field)
			v.SetMapIndex(iter.Key(), val)
		}
	}
}

// fromGonja: the walk stays inside gonja's own parse tree types.
func fromGonja(t reflect.Type) bool {
	return strings.HasPrefix(t.PkgPath(), "github.com/nikolalohinski/gonja/v2/nodes") ||
		strings.HasPrefix(t.PkgPath(), "github.com/nikolalohinski/gonja/v2/builtins/control_structures")
}

// growOps are the operators that build strings or lists: each is evaluated by growFilter,
// which refuses a result over the bounds before building it.
var growOps = map[tokens.Type]string{tokens.Multiply: "*", tokens.Addition: "+", tokens.Tilde: "~"}

// visit checks one node; a non-nil result replaces it.
func (c *jinjaCheck) visit(n nodes.Node, field string) nodes.Node {
	if field == "target" {
		c.checkTarget(n)
	}
	switch x := n.(type) {
	case *nodes.Name:
		switch {
		case field == "target" || field == "Targets":
			c.bound[x.Name.Val] = true
		case !c.callees[x]:
			c.names[x.Name.Val] = true
		}
	case *nodes.GetAttribute, *nodes.GetItem:
		c.paths[x.String()] = pretty(x)
	case *nodes.Output:
		c.outputs = append(c.outputs, x)
	case *nodes.Call:
		if name, ok := x.Func.(*nodes.Name); ok {
			c.callees[name] = true
			fn := name.Name.Val
			if !jinjaGlobal(fn) {
				c.refuse(name.Name, "unknown function %s() (StackStorm's and Orquesta's functions: %s)", fn, knownFunctionList())
			}
			c.funcs[fn] = true
		}
	case *nodes.BinaryExpression:
		if op, ok := growOps[x.Operator.Token.Type]; ok {
			return &nodes.FilteredExpression{
				Expression: x.Left,
				Filters: []*nodes.FilterCall{{
					Token: x.Operator.Token, Name: growFilterName,
					Args: []nodes.Expression{&nodes.String{Location: x.Operator.Token, Val: op}, x.Right},
				}},
			}
		}
	case *controlStructures.ForControlStructure:
		if x.Recursive {
			c.refuse(x.Position(), "recursive for-loops are not available (their cost has no bound in the template's size)")
		}
		c.bound[x.Key] = true
		if x.Value != "" {
			c.bound[x.Value] = true
		}
		// A loop charges its collection's length when it starts (gonja walks the whole
		// collection to set up loop.length and the like, however early the body stops), and
		// a step per iteration: the tick is the first node of the body.
		x.ObjectEvaluator = &nodes.FilteredExpression{
			Expression: x.ObjectEvaluator,
			Filters:    []*nodes.FilterCall{{Token: x.Position(), Name: iterateFilterName}},
		}
		x.BodyWrapper.Nodes = append([]nodes.Node{&nodes.ControlStructureBlock{
			Location: x.Position(), Name: "tick", ControlStructure: &tick{at: x.Position()},
		}}, x.BodyWrapper.Nodes...)
	}
	return nil
}

// checkTarget refuses a {% set %} of anything but names: gonja would write `{% set d.x = 1 %}`
// into the caller's map (Jinja itself refuses it outside namespace(), which is not available).
func (c *jinjaCheck) checkTarget(n nodes.Node) {
	switch x := n.(type) {
	case *nodes.Name:
		c.bound[x.Name.Val] = true
	case *nodes.Tuple:
		for _, e := range x.Val {
			c.checkTarget(e)
		}
	default:
		c.refuse(n.Position(), "{%% set %%} assigns names only; %s is not a name (a render does not change the values it reads)", pretty(n))
	}
}

// jinjaNames is what a check found, for Names and Functions.
func (c *jinjaCheck) results() (names, funcs []string) {
	for n := range c.bound {
		delete(c.names, n)
	}
	for _, implicit := range []string{"loop", "self", "varargs", "kwargs", "caller", "true", "false", "none", "True", "False", "None"} {
		delete(c.names, implicit)
	}
	return sortedKeys(c.names), sortedKeys(c.funcs)
}

func newJinjaCheck() *jinjaCheck {
	return &jinjaCheck{
		names: map[string]bool{}, bound: map[string]bool{}, callees: map[*nodes.Name]bool{},
		funcs: map[string]bool{}, seen: map[uintptr]bool{}, paths: map[string]string{},
	}
}

// pretty writes a lookup as the template spells it (gonja writes a call as "call([], map[])").
func pretty(n nodes.Node) string {
	switch x := n.(type) {
	case *nodes.GetAttribute:
		if x.Attribute == "" {
			return fmt.Sprintf("%s[%d]", pretty(x.Node), x.Index)
		}
		return pretty(x.Node) + "." + x.Attribute
	case *nodes.GetItem:
		return pretty(x.Node) + "[" + pretty(x.Arg) + "]"
	case *nodes.Call:
		args := make([]string, len(x.Args))
		for i, a := range x.Args {
			args[i] = pretty(a)
		}
		return pretty(x.Func) + "(" + strings.Join(args, ", ") + ")"
	case nil:
		return ""
	}
	return n.String()
}
