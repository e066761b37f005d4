package ruleeval

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// The names of the patched-in member accesses, $-prefixed like expr's own $env so that they
// do not clash with a name a user would choose.
const (
	fetchFunc      = "$fetch"
	fetchOrNilFunc = "$fetchOrNil"
)

// MissingError is a strict template reading a path that does not exist.
type MissingError struct {
	Path string // the first step missing, as the template wrote it: event.payload.msg, config.hosts[2]
	Why  string // optional: the parent is null, the index is past the end …
	// Whole is the whole path the template was reading when it is longer than Path:
	// event.payload.a.b when event.payload.a is missing.
	Whole string
}

func (e *MissingError) Error() string {
	msg := e.Path + " does not exist"
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	if e.Whole != "" && e.Whole != e.Path {
		msg += ", reading " + e.Whole
	}
	return msg
}

// lenientMarker finds the member accesses a strict template lets be missing: the whole
// chain on the left of `??`, whose point is to give a default for it, and the object of a
// `?.`.
type lenientMarker struct{ lenient map[*ast.MemberNode]bool }

func (v *lenientMarker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if obj, ok := n.Node.(*ast.MemberNode); ok && n.Optional {
			v.lenient[obj] = true
		}
	case *ast.BinaryNode:
		if n.Operator == "??" {
			v.markChain(n.Left)
		}
	}
}

func (v *lenientMarker) markChain(n ast.Node) {
	for n != nil {
		switch m := n.(type) {
		case *ast.MemberNode:
			v.lenient[m] = true
			n = m.Node
		case *ast.ChainNode:
			n = m.Node
		default:
			n = nil
		}
	}
}

// strictPatcher turns event.payload.msg into $fetch($fetch(event, "payload", "event.payload",
// "event.payload.msg"), "msg", "event.payload.msg", "event.payload.msg"): each call knows the
// step it reads and the whole path of its chain. ast.Walk visits children first, so a
// member's object has already been patched when the member is visited: that is how a chain
// is known to be rooted at a scope name, and the outermost call of a chain, visited last,
// hands the whole path down to the calls inside it.
type strictPatcher struct {
	lenient map[*ast.MemberNode]bool
	roots   roots
}

// roots are the names a strict chain starts at: the scope's names (event, config, system
// for rules; parameters, vars, task, item for workflows) and the functions without
// arguments whose value is read like a name (a workflow's result()).
type roots struct {
	names map[string]bool
	calls map[string]bool
}

// ruleRoots are the names of a rule's scope.
var ruleRoots = roots{names: map[string]bool{nameEvent: true, nameConfig: true, nameSystem: true, nameKV: true}}

func (v *strictPatcher) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return
	}
	parent, ok := v.roots.chainPath(m.Node)
	if !ok {
		return
	}
	var path string
	switch p := m.Property.(type) {
	case *ast.StringNode:
		path = parent + memberSuffix(p.Value)
	case *ast.IntegerNode:
		path = parent + "[" + strconv.Itoa(p.Value) + "]"
	default:
		return // a computed key: no path to name, expr's own semantics apply
	}
	fn := fetchFunc
	if v.lenient[m] {
		fn = fetchOrNilFunc
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fn},
		Arguments: []ast.Node{m.Node, m.Property, &ast.StringNode{Value: path}, &ast.StringNode{Value: path}},
	})
	for inner := m.Node; ; {
		call, ok := inner.(*ast.CallNode)
		if !ok || !isFetch(call) {
			break
		}
		call.Arguments[3] = &ast.StringNode{Value: path}
		inner = call.Arguments[0]
	}
}

// isFetch reports whether call is one the patch made.
func isFetch(call *ast.CallNode) bool {
	id, ok := call.Callee.(*ast.IdentifierNode)
	return ok && (id.Value == fetchFunc || id.Value == fetchOrNilFunc) && len(call.Arguments) == 4
}

// chainPath is the path n reads if n is a root or an already strict access.
func (rs roots) chainPath(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if rs.names[x.Value] {
			return x.Value, true
		}
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		switch {
		case !ok:
		case id.Value == fetchFunc || id.Value == fetchOrNilFunc:
			return x.Arguments[2].(*ast.StringNode).Value, true
		case rs.calls[id.Value] && len(x.Arguments) == 0:
			return id.Value + "()", true
		}
	}
	return "", false
}

var identLike = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// memberSuffix writes a key the way an expression would: .name or ["odd-name"].
func memberSuffix(key string) string {
	if identLike.MatchString(key) {
		return "." + key
	}
	return "[" + strconv.Quote(key) + "]"
}

// strictFetch is $fetch(object, key, path, whole).
func strictFetch(params ...any) (any, error) {
	path, _ := params[2].(string)
	whole, _ := params[3].(string)
	v, err := fetch(params[0], params[1], path)
	var me *MissingError
	if errors.As(err, &me) {
		me.Whole = whole
	}
	return v, err
}

// fetch reads from[key], or fails with a *MissingError naming path.
func fetch(from, key any, path string) (any, error) {
	switch x := from.(type) {
	case map[string]any:
		k, _ := key.(string)
		v, ok := x[k]
		if !ok {
			return nil, &MissingError{Path: path}
		}
		return v, nil
	case []any:
		i, ok := key.(int)
		if !ok {
			return nil, &MissingError{Path: path, Why: "a list is indexed by number"}
		}
		if i < 0 {
			i += len(x)
		}
		if i < 0 || i >= len(x) {
			return nil, &MissingError{Path: path, Why: fmt.Sprintf("the list has %d items", len(x))}
		}
		return x[i], nil
	case nil:
		return nil, &MissingError{Path: path, Why: "its parent is null"}
	case string:
		if _, isIndex := key.(int); !isIndex {
			return nil, &MissingError{Path: path, Why: "its parent is a string"}
		}
	case bool:
		return nil, &MissingError{Path: path, Why: "its parent is a boolean"}
	}
	if _, ok := number(from); ok {
		return nil, &MissingError{Path: path, Why: "its parent is a number"}
	}
	// Anything else (a map[string]string a caller put in System, a string indexed by
	// position) reads the way expr reads it; expr reports its failures by panicking.
	return fetchAny(from, key, path)
}

// fetchOrNil is $fetchOrNil(object, key, path, whole): strictFetch, with nil for whatever is
// missing.
func fetchOrNil(params ...any) (any, error) {
	v, err := strictFetch(params...)
	var me *MissingError
	if errors.As(err, &me) {
		return nil, nil
	}
	return v, err
}

func fetchAny(from, key any, path string) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &MissingError{Path: path, Why: fmt.Sprint(r)}
		}
	}()
	return runtime.Fetch(from, key), nil
}
