package ruleeval

import (
	"errors"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// An expression is compiled by expr-lang/expr against the scope's names, strictly: reading a
// key that does not exist is an error naming the path (*MissingError), in parameter templates
// and in a rule's boolean expression alike. Silently rendering null into an action's
// parameters hides a typo until the action misbehaves, and an expression that reads a
// missing field would silently be false (or, negated, true). An author says what a missing
// field means: `event.payload.a.b ?? 'default'` (a missing step anywhere on the left of ??
// gives the default) or `event.payload.a?.b` (a may be missing or null). A criterion's path
// is different: a criterion on a missing path is false, StackStorm's semantics, and
// exists / nexists test for presence.
//
// Strictness is an AST patch: every member access with a constant key, on a chain rooted at
// a scope name (event, config, system; or the names a caller of CompileTemplateIn gives),
// becomes a call to fetchFunc (or to fetchOrNilFunc where a missing step is allowed), which
// knows the path it is reading.

// program is a compiled expression. Runs share pooled VMs (expr allocates a VM and its
// stack per run otherwise), and a strict template that is nothing but a path — most
// parameters: {{ event.payload.msg }} — skips the VM and walks the path with the same
// fetch the VM would call.
type program struct {
	prog    *vm.Program
	charged bool        // it iterates: each run carries an iteration budget (budget.go)
	root    string      // with steps: the scope name the path starts at
	steps   []fetchStep // non-nil when the expression is only a path
	kv      []KVRef     // the keys of the store it reads (kv.go)
	vms     sync.Pool   // of *vm.VM
}

type fetchStep struct {
	key  any // string or int
	path string
}

func (p *program) run(vars map[string]any) (any, error) {
	if p.steps != nil {
		cur := any(vars[p.root])
		for _, st := range p.steps {
			v, err := fetch(cur, st.key, st.path)
			if err != nil {
				if me, ok := err.(*MissingError); ok {
					me.Whole = p.steps[len(p.steps)-1].path
				}
				return nil, err
			}
			cur = v
		}
		return cur, nil
	}
	if p.charged {
		vars = withBudget(vars)
	}
	m, _ := p.vms.Get().(*vm.VM)
	if m == nil {
		m = newVM()
	}
	out, err := m.Run(p.prog, vars)
	p.vms.Put(m)
	return out, err
}

// pathSteps recognises a tree that is only $fetch calls down to a root name.
func pathSteps(n ast.Node, rs roots) (root string, steps []fetchStep, ok bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if rs.names[x.Value] {
			return x.Value, []fetchStep{}, true
		}
	case *ast.CallNode:
		id, isIdent := x.Callee.(*ast.IdentifierNode)
		if !isIdent || id.Value != fetchFunc || len(x.Arguments) != 4 {
			return "", nil, false
		}
		root, steps, ok := pathSteps(x.Arguments[0], rs)
		if !ok {
			return "", nil, false
		}
		var key any
		switch k := x.Arguments[1].(type) {
		case *ast.StringNode:
			key = k.Value
		case *ast.IntegerNode:
			key = k.Value
		default:
			return "", nil, false
		}
		return root, append(steps, fetchStep{key: key, path: x.Arguments[2].(*ast.StringNode).Value}), true
	}
	return "", nil, false
}

// ruleEnv types a rule's names for the compiler.
var ruleEnv = map[string]any{
	nameEvent:  map[string]any{},
	nameConfig: map[string]any{},
	nameSystem: map[string]any{},
	nameKV:     emptyKV(),
}

func compileExpr(src string, strict bool) (*program, error) {
	var rs *roots
	if strict {
		rs = &ruleRoots
	}
	return compileIn(src, ruleEnv, rs)
}

// compileIn compiles src against env; strict (rs not nil) makes reading a missing key on a
// chain rooted at one of rs an error naming the path.
func compileIn(src string, env map[string]any, rs *roots) (*program, error) {
	prog, charged, err := compileProgram(src, env, rs)
	if err != nil {
		return nil, err
	}
	p := &program{prog: prog, charged: charged}
	if rs != nil {
		if root, steps, ok := pathSteps(prog.Node(), *rs); ok && len(steps) > 0 {
			p.root, p.steps = root, steps
		}
		if rs.names[nameKV] {
			if p.kv, err = kvRefsOf(prog.Node()); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func compileProgram(src string, env map[string]any, rs *roots) (*vm.Program, bool, error) {
	var opts []expr.Option
	if rs != nil {
		lenient := map[*ast.MemberNode]bool{}
		opts = append(opts,
			expr.Function(fetchFunc, strictFetch),
			expr.Function(fetchOrNilFunc, fetchOrNil),
			expr.Patch(&lenientMarker{lenient: lenient}),
			expr.Patch(&strictPatcher{lenient: lenient, roots: *rs}),
		)
	}
	return compileBounded(src, env, opts...)
}

// exprMessage is the one-line message of an expr error, without expr's source snippet: the
// caller names the template or expression its own way.
func exprMessage(err error) string {
	var me *MissingError
	if errors.As(err, &me) {
		return me.Error()
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}
