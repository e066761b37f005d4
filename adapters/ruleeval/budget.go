package ruleeval

import (
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
//   - let is refused: a variable is what turns linear code into exponential growth
//     (`let a = event.payload.msg; let b = a + a; let c = b + b; …`);
//   - an expression has at most maxExprNodes nodes, far above any real template, which
//     bounds how many strings one run can join without let;
//   - a run may build at most exprMemoryBudget elements (ranges, arrays, maps), so
//     `map(1..999999, …)` is refused at run time with an error rather than looping.
//
// What is left: a predicate over a list from the payload (map, filter, all …) runs once per
// element, and its body may build a string as large as the payload; expr has no step budget
// to bound that product.
const (
	maxExprNodes     = 500
	exprMemoryBudget = 100_000
)

// compileBounded is expr.Compile under the bounds above.
func compileBounded(src string, opts ...expr.Option) (*vm.Program, error) {
	lets := &letFinder{}
	opts = append(opts, expr.DisableBuiltin("repeat"), expr.MaxNodes(maxExprNodes), expr.Patch(lets))
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, err
	}
	if lets.at != nil {
		return nil, &file.Error{Location: *lets.at, Message: "let is not available in Attune expressions (a variable lets an expression grow without bound)"}
	}
	return prog, nil
}

// newVM is a VM under the memory budget.
func newVM() *vm.VM { return &vm.VM{MemoryBudget: exprMemoryBudget} }

// letFinder records the first let declaration of an expression.
type letFinder struct{ at *file.Location }

func (f *letFinder) Visit(node *ast.Node) {
	if d, ok := (*node).(*ast.VariableDeclaratorNode); ok && f.at == nil {
		loc := d.Location()
		f.at = &loc
	}
}
