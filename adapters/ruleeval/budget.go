package ruleeval

import (
	"fmt"
	"maps"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Expressions come from pack files and run, inside the server, on payloads that anonymous
// webhook callers send. expr bounds a run by a memory budget (vm.VM.MemoryBudget) that counts
// the elements of ranges, arrays and maps it builds and the output of its "safe" builtins —
// but not the bytes of strings it concatenates, and repeat charges its budget only after
// strings.Repeat has allocated: `repeat(repeat('x', 999999), 999999)` asks for a terabyte in
// one allocation, a fatal error that no recover catches (found by FuzzRule's seeds). So:
//
//   - repeat is not available;
//
//   - let is refused: a variable is what turns linear code into exponential growth
//     (`let a = event.payload.msg; let b = a + a; let c = b + b; …`);
//
//   - an expression has at most maxExprNodes nodes, far above any real template, which
//     bounds how many strings one run can join without let;
//
//   - a run may build at most exprMemoryBudget elements (ranges, arrays, maps), so
//     `map(1..999999, …)` is refused at run time with an error rather than looping.
//
//   - a run may iterate over at most maxIterations items in all: expr has no step budget,
//     and a predicate over a payload list inside another (`any(event.payload.a,
//     any(event.payload.a, # == 1))`) is quadratic in a 1 MiB webhook body — hours. Each
//     predicate's collection is charged, when the predicate starts, to a budget that the run
//     carries as the hidden variable budgetName.
//
// What is left: a predicate body may itself do work as large as the payload (toJSON, in),
// so a run is bounded by maxIterations times the payload size, not by a constant.
const (
	maxExprNodes     = 500
	exprMemoryBudget = 100_000
	maxIterations    = 1_000_000
	budgetName       = "$budget"
	iterateFunc      = "$iterate"
)

// compileBounded is expr.Compile against env under the bounds above. charged reports
// whether the program iterates: its runs need a budget (withBudget).
func compileBounded(src string, env map[string]any, opts ...expr.Option) (prog *vm.Program, charged bool, err error) {
	withBudget := make(map[string]any, len(env)+1)
	maps.Copy(withBudget, env)
	withBudget[budgetName] = &iterations{}
	lets, iter := &letFinder{}, &iterationCharger{}
	opts = append([]expr.Option{expr.Env(withBudget)}, opts...)
	opts = append(opts, expr.DisableBuiltin("repeat"), expr.MaxNodes(maxExprNodes),
		expr.Function(iterateFunc, iterate), expr.Patch(lets), expr.Patch(iter))
	prog, err = expr.Compile(src, opts...)
	if err != nil {
		return nil, false, err
	}
	if lets.at != nil {
		return nil, false, &file.Error{Location: *lets.at, Message: "let is not available in Attune expressions (a variable lets an expression grow without bound)"}
	}
	return prog, iter.used, nil
}

// newVM is a VM under the memory budget.
func newVM() *vm.VM { return &vm.VM{MemoryBudget: exprMemoryBudget} }

// withBudget is vars plus a fresh iteration budget, for one run (vars is left as it is: the
// caller may share it).
func withBudget(vars map[string]any) map[string]any {
	out := make(map[string]any, len(vars)+1)
	maps.Copy(out, vars)
	out[budgetName] = &iterations{left: maxIterations}
	return out
}

// iterations is what is left of one run's iteration budget.
type iterations struct{ left int }

// iterate charges the length of a predicate's collection to the run's budget and returns
// the collection.
func iterate(params ...any) (any, error) {
	b, _ := params[0].(*iterations)
	coll := params[1]
	if b == nil {
		return coll, nil
	}
	n := 0
	switch v := reflect.ValueOf(coll); v.Kind() {
	case reflect.Array, reflect.Slice, reflect.Map, reflect.String:
		n = v.Len()
	}
	if n > b.left {
		return nil, fmt.Errorf("the expression iterates over more than %d items in all", maxIterations)
	}
	b.left -= n
	return coll, nil
}

// predicates are expr's builtins that run a closure per item of their first argument.
var predicates = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
	"find": true, "findIndex": true, "findLast": true, "findLastIndex": true, "count": true,
	"sum": true, "groupBy": true, "sortBy": true, "reduce": true,
}

// iterationCharger wraps the collection of every predicate in a call to iterateFunc.
type iterationCharger struct{ used bool }

func (c *iterationCharger) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BuiltinNode)
	if !ok || !predicates[b.Name] || len(b.Arguments) == 0 {
		return
	}
	if call, ok := b.Arguments[0].(*ast.CallNode); ok {
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == iterateFunc {
			return // charged already
		}
	}
	b.Arguments[0] = &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: iterateFunc},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: budgetName}, b.Arguments[0]},
	}
	c.used = true
}

// letFinder records the first let declaration of an expression.
type letFinder struct{ at *file.Location }

func (f *letFinder) Visit(node *ast.Node) {
	if d, ok := (*node).(*ast.VariableDeclaratorNode); ok && f.at == nil {
		loc := d.Location()
		f.at = &loc
	}
}
