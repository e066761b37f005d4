package st2expr

import (
	"context"
	"errors"
	"fmt"
)

// Templates come from pack files, and the values they read come from webhook callers and
// action output. Neither gonja nor our YAQL evaluator has a notion of cost, so every render
// carries a run that bounds it:
//
//   - every loop iteration, filter, function and YAQL node charges one step; a render may take
//     at most maxSteps (nested loops over range() would otherwise run for hours);
//
//   - every step checks the caller's context every ctxCheckEvery steps, so a deadline stops a
//     render that is within its budget but slow;
//
//   - every string an operator, filter or function builds may hold at most maxStringBytes, and
//     every list maxListItems, checked before it is built where the size can be known in
//     advance ('x' * 10**9 asks for a gigabyte in one allocation that no recover survives);
//
//   - the rendered output may hold at most maxOutputBytes;
//
//   - constructs whose cost has no bound in the template's size are refused at Compile:
//     macros (recursion), recursive for-loops, namespace() (it carries a value across
//     iterations, which turns a loop into repeated doubling), include/import/extends.
//
// What is left: a filter over a list runs over the whole list in one step, so a render costs
// at most maxSteps times the size of the largest value — linear in what the caller passed.
const (
	maxSteps        = 200_000
	ctxCheckEvery   = 256
	maxStringBytes  = 1 << 20
	maxListItems    = 100_000
	maxOutputBytes  = 4 << 20
	maxSourceBytes  = 256 << 10
	maxNesting      = 64
	runContextKey   = "$st2expr_run" // not a Jinja name: templates cannot read or shadow it
	errBudgetPrefix = "expression stopped"
)

// ErrBudget is wrapped by every error that stops a render for its cost.
var ErrBudget = errors.New(errBudgetPrefix)

// run is the state of one render.
type run struct {
	ctx   context.Context
	env   Env
	steps int
	// stopped is the first budget error: sticky, so that a `default` filter that swallows it
	// does not let the render go on, and so that its identity survives gonja, which passes
	// errors from filters and functions on as text.
	stopped error
}

func newRun(ctx context.Context, env Env) *run { return &run{ctx: ctx, env: env} }

// step charges n steps and checks the context now and then.
func (r *run) step(n int) error {
	if r.stopped != nil {
		return r.stopped
	}
	before := r.steps
	r.steps += n
	if r.steps > maxSteps {
		return r.stop(fmt.Errorf("%w: it takes more than %d steps (a loop or a filter over too many items)", ErrBudget, maxSteps))
	}
	if before/ctxCheckEvery != r.steps/ctxCheckEvery || n >= ctxCheckEvery {
		if err := r.ctx.Err(); err != nil {
			return r.stop(fmt.Errorf("%w: %w", ErrBudget, err))
		}
	}
	return nil
}

// stop records err as the run's budget error when it is one, and returns it.
func (r *run) stop(err error) error {
	if r.stopped == nil && errors.Is(err, ErrBudget) {
		r.stopped = err
	}
	return err
}

// checkString refuses a string of n bytes before it is built.
func checkString(n int) error {
	if n > maxStringBytes || n < 0 {
		return fmt.Errorf("%w: it would build a string of more than %d bytes", ErrBudget, maxStringBytes)
	}
	return nil
}

// checkList refuses a list of n items before it is built.
func checkList(n int) error {
	if n > maxListItems || n < 0 {
		return fmt.Errorf("%w: it would build a list of more than %d items", ErrBudget, maxListItems)
	}
	return nil
}

// limitedWriter is the rendered output, refused past maxOutputBytes.
type limitedWriter struct {
	r   *run
	buf []byte
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(w.buf)+len(p) > maxOutputBytes {
		return 0, w.r.stop(fmt.Errorf("%w: the rendered text would be more than %d bytes", ErrBudget, maxOutputBytes))
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// checkNesting refuses brackets nested deeper than maxNesting: gonja's parser (and ours)
// recurse once per level, and Go's stack is not a resource to hand to a pack file.
func checkNesting(src string) error {
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '(', '[', '{':
			depth++
			if depth > maxNesting {
				return fmt.Errorf("offset %d: brackets nest more than %d deep", i, maxNesting)
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
