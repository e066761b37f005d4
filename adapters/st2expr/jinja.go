package st2expr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// jinjaTemplate is a compiled Jinja string.
type jinjaTemplate struct {
	src    string
	tpl    *exec.Template
	single *nodes.Output     // set when src is exactly one {{ expr }}: Render returns its value typed
	paths  map[string]string // gonja's spelling of a lookup → the template's, for errors
	names  []string
	funcs  []string
}

// jinjaConfig is StackStorm's Jinja environment: StrictUndefined (a missing name or key is an
// error), trim_blocks and lstrip_blocks (st2common.util.jinja.get_jinja_environment).
func jinjaConfig() *config.Config {
	cfg := config.New()
	cfg.StrictUndefined = true
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	return cfg
}

// jinjaStatements are the statements a template may use. Refused (unknown to the parser, so
// Compile says "ControlStructure 'macro' not found" with its line): macro and call (recursion
// has no bound), include, import, from, extends, block (there are no other templates), do
// (it exists to mutate), autoescape and trans (no HTML, no translations).
var jinjaStatements = []string{"if", "for", "set", "with", "filter", "raw", "break", "continue"}

// jinjaGlobalNames are Jinja's own global functions that a template may call.
var jinjaGlobalNames = map[string]bool{"range": true, "dict": true, "joiner": true, "cycler": true, "zip": true, "json": true}

// jinjaEnv is the one environment every template shares; it is never written after it is
// built (per-render state travels in the render's context under runContextKey).
var jinjaEnv = sync.OnceValue(func() *exec.Environment {
	statements := map[string]parser.ControlStructureParser{}
	for _, name := range jinjaStatements {
		p, ok := controlStructures.All.Get(name)
		if !ok {
			panic("gonja lacks the " + name + " statement")
		}
		statements[name] = p
	}
	globals := map[string]any{"range": boundedRange, "none": nil, "true": true, "false": false}
	for name := range jinjaGlobalNames {
		if name != "range" && name != "zip" && name != "json" {
			v, _ := builtins.GlobalFunctions.Get(name)
			globals[name] = v
		}
	}
	for name, b := range st2Functions {
		globals[name] = b.jinjaFunction(name)
	}
	globals["zip"] = func(va *exec.VarArgs) (any, error) {
		args := make([]any, len(va.Args))
		for i, a := range va.Args {
			args[i] = goValue(a)
		}
		return zipLists(args, goValue(va.GetKeywordArgument("pad", nil)))
	}
	globals["json"] = func(v *exec.Value) (any, error) { return yJSON(goValue(v)) }
	return &exec.Environment{
		Context:           exec.NewContext(globals),
		Filters:           exec.NewFilterSet(jinjaFilters()),
		Tests:             builtins.Tests,
		ControlStructures: exec.NewControlStructureSet(statements),
		Methods:           jinjaMethods(),
	}
})

func jinjaGlobal(name string) bool {
	_, st2 := st2Functions[name]
	return st2 || jinjaGlobalNames[name] || isCallerFunc(name)
}

func isCallerFunc(name string) bool {
	for _, f := range CallerFuncs {
		if f == name {
			return true
		}
	}
	return false
}

func jinjaFilterExists(name string) bool { return jinjaEnv().Filters.Exists(name) }
func jinjaTestExists(name string) bool   { return jinjaEnv().Tests.Exists(name) }

func knownFunctionList() string {
	names := map[string]bool{}
	for n := range st2Functions {
		names[n] = true
	}
	for n := range jinjaGlobalNames {
		names[n] = true
	}
	for _, n := range CallerFuncs {
		names[n] = true
	}
	return strings.Join(sortedKeys(names), ", ")
}

// oneSource is the loader of a template that is one string: there is nothing to include.
type oneSource struct{ src string }

func (l oneSource) Read(string) (io.Reader, error)   { return strings.NewReader(l.src), nil }
func (l oneSource) Resolve(p string) (string, error) { return p, nil }
func (l oneSource) Inherit(string) (loaders.Loader, error) {
	return nil, errors.New("templates cannot include others")
}

// lexerTrap is what sends gonja v2.9.1's lexer backwards: after a number's '.', it backs up
// by the width of the rune it peeked at, not of the '.', so a multi-byte rune there makes it
// loop forever or panic (found by FuzzRender).
var lexerTrap = regexp.MustCompile(`[0-9]\.[^\x00-\x7f]`)

func compileJinja(src string) (t *jinjaTemplate, err error) {
	if err := checkNesting(src); err != nil {
		return nil, fmt.Errorf("%q: %w", clip(src), err)
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("%q: not valid UTF-8", clip(src))
	}
	if loc := lexerTrap.FindStringIndex(src); loc != nil {
		return nil, fmt.Errorf("%q: offset %d: a number followed by '.' and a non-ASCII character cannot be read by the Jinja lexer (gonja v2.9.1); put a space after the '.'", clip(src), loc[0])
	}
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%q: the Jinja parser failed: %v", clip(src), p)
		}
	}()
	tpl, err := exec.NewTemplate("expression", jinjaConfig(), oneSource{src}, jinjaEnv())
	if err != nil {
		var syn *parser.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("%q: line %d, column %d: %s (near %q)", clip(src), syn.Line, syn.Column, syn.Message, syn.Raw)
		}
		return nil, fmt.Errorf("%q: %w", clip(src), err)
	}
	check := newJinjaCheck()
	check.walk(reflect.ValueOf(tpl.Root()), "")
	if check.err != nil {
		return nil, fmt.Errorf("%q: %w", clip(src), check.err)
	}
	t = &jinjaTemplate{src: src, tpl: tpl, paths: check.paths}
	t.names, t.funcs = check.results()
	t.single = singleOutput(tpl.Root())
	if t.single == nil {
		for _, o := range check.outputs {
			o.Expression = asText(o.Expression)
			if o.Alternative != nil {
				o.Alternative = asText(o.Alternative)
			}
		}
	}
	return t, nil
}

// asText wraps an output's expression in the filter that writes None as Python does.
func asText(e nodes.Expression) nodes.Expression {
	return &nodes.FilteredExpression{Expression: e, Filters: []*nodes.FilterCall{{Token: e.Position(), Name: textFilterName}}}
}

// singleOutput is the one {{ expr }} of a template that holds nothing else but blanks.
func singleOutput(root *nodes.Template) *nodes.Output {
	var out *nodes.Output
	for _, n := range root.Nodes {
		switch x := n.(type) {
		case *nodes.Output:
			if out != nil {
				return nil
			}
			out = x
		case *nodes.Data:
			if strings.TrimSpace(x.Data.Val) != "" {
				return nil
			}
		case *nodes.Comment:
		default:
			return nil
		}
	}
	return out
}

// render evaluates the template against env within the run's bounds.
func (t *jinjaTemplate) render(ctx context.Context, env Env) (out any, err error) {
	r := newRun(ctx, env)
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("render %q: %v", clip(t.src), p)
		}
	}()
	data := exec.NewContext(r.jinjaVars())
	if t.single != nil {
		e := &exec.Evaluator{
			Config: jinjaConfig(),
			Environment: &exec.Environment{
				Context: jinjaEnv().Context.Inherit().Update(data), Filters: jinjaEnv().Filters,
				Tests: jinjaEnv().Tests, ControlStructures: jinjaEnv().ControlStructures, Methods: jinjaEnv().Methods,
			},
			Loader: oneSource{t.src},
		}
		v := evalOutput(e, t.single)
		if v.IsError() || r.stopped != nil {
			return nil, t.renderError(r, v)
		}
		got := v.ToGoSimpleType(false)
		if err, ok := got.(error); ok {
			return nil, fmt.Errorf("render %q: %w", clip(t.src), err)
		}
		return normalize(got), nil
	}
	w := &limitedWriter{r: r}
	if err := t.tpl.Execute(w, data); err != nil || r.stopped != nil {
		return nil, t.renderError(r, err)
	}
	return string(w.buf), nil
}

// evalOutput is what the renderer does for {{ expr }} and {{ a if c else b }}.
func evalOutput(e *exec.Evaluator, o *nodes.Output) *exec.Value {
	if o.Condition == nil {
		return e.Eval(o.Expression)
	}
	cond := e.Eval(o.Condition)
	switch {
	case cond.IsError():
		return cond
	case cond.IsTrue():
		return e.Eval(o.Expression)
	case o.Alternative != nil:
		return e.Eval(o.Alternative)
	}
	return exec.AsValue(nil)
}

// jinjaVars is the render's top-level names: the caller's Vars, its Funcs (which shadow a
// Var of the same name) and the run itself under a name no template can spell.
func (r *run) jinjaVars() map[string]any {
	vars := make(map[string]any, len(r.env.Vars)+len(r.env.Funcs)+1)
	for k, v := range r.env.Vars {
		vars[k] = v
	}
	for name, f := range r.env.Funcs {
		vars[name] = r.callerFunction(name, f)
	}
	for _, name := range CallerFuncs {
		if _, ok := vars[name]; !ok {
			vars[name] = func(*exec.VarArgs) (any, error) {
				return nil, fmt.Errorf("%s() is not available here (the caller provides it only where StackStorm does)", name)
			}
		}
	}
	vars[runContextKey] = r
	return vars
}

// callerFunction adapts a caller's Func to gonja's calling convention.
func (r *run) callerFunction(name string, f Func) func(*exec.VarArgs) (any, error) {
	return func(va *exec.VarArgs) (any, error) {
		if err := r.step(1); err != nil {
			return nil, err
		}
		if len(va.KwArgs) > 0 {
			return nil, fmt.Errorf("%s() takes no keyword arguments", name)
		}
		args := make([]any, len(va.Args))
		for i, a := range va.Args {
			args[i] = goValue(a)
		}
		out, err := f(r.ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("%s(): %w", name, err)
		}
		return out, nil
	}
}

// runOf is the render's run, from inside gonja.
func runOf(e *exec.Evaluator) *run {
	if v, ok := e.Environment.Context.Get(runContextKey); ok {
		if r, ok := v.(*run); ok {
			return r
		}
	}
	// Not reachable: every render puts its run in the context. A run without a caller context
	// still has its step budget.
	return newRun(context.Background(), Env{})
}

// goValue is a gonja value as a plain Go value.
func goValue(v *exec.Value) any {
	if v == nil || v.IsNil() {
		return nil
	}
	out := v.ToGoSimpleType(false)
	if _, isErr := out.(error); isErr {
		return v.Interface()
	}
	return normalize(out)
}

// undefinedPatterns are gonja's StrictUndefined messages; each becomes "<path> does not exist".
var undefinedPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i:unable to evaluate) (.+?): attribute '[^']*' not found$`),
	regexp.MustCompile(`(?i:unable to evaluate) (.+?): item .* not found$`),
	regexp.MustCompile(`Unable to evaluate name "(.*)"$`),
}

// renderError is the render's budget error if it has one, else the innermost cause of a
// gonja error, a missing name or key said plainly.
func (t *jinjaTemplate) renderError(r *run, err error) error {
	if r.stopped != nil {
		return fmt.Errorf("render %q: %w", clip(t.src), r.stopped)
	}
	cause := innermost(err)
	msg := cause.Error()
	for _, p := range undefinedPatterns {
		if m := p.FindStringSubmatch(msg); m != nil {
			path := m[1]
			if pretty, ok := t.paths[path]; ok {
				path = pretty
			}
			return fmt.Errorf("render %q: %w", clip(t.src), &UndefinedError{Path: path})
		}
	}
	return fmt.Errorf("render %q: %w", clip(t.src), cause)
}

// UndefinedError is a name or key the template reads that the render's values do not hold.
type UndefinedError struct{ Path string }

func (e *UndefinedError) Error() string { return e.Path + " does not exist" }

// innermost unwraps gonja's chain of wrapped errors (github.com/pkg/errors wrappers, and the
// *exec.Value that carries an error from a filter or function) to the first error that is not
// gonja's wrapping.
func innermost(err error) error {
	for err != nil {
		if v, ok := err.(*exec.Value); ok {
			inner, isErr := v.Interface().(error)
			if !isErr || inner == err {
				return err
			}
			err = inner
			continue
		}
		if reflect.TypeOf(err).Elem().PkgPath() != "github.com/pkg/errors" {
			return err
		}
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
	return err
}

// tick charges one step per loop iteration: the walk puts one at the top of every for body.
type tick struct{ at *tokens.Token }

func (t *tick) Position() *tokens.Token { return t.at }
func (t *tick) String() string          { return "tick" }
func (t *tick) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	return runOf(r.Evaluator()).step(1)
}

// boundedRange is Jinja's range() as a list of at most maxListItems numbers (gonja's feeds a
// channel from a goroutine that outlives a loop that stops early).
func boundedRange(e *exec.Evaluator, va *exec.VarArgs) (any, error) {
	var start, stop, step int64 = 0, 0, 1
	nums := make([]int64, len(va.Args))
	for i, a := range va.Args {
		n, err := toInt(goValue(a))
		if err != nil {
			return nil, fmt.Errorf("range: %w", err)
		}
		nums[i] = n
	}
	switch len(nums) {
	case 1:
		stop = nums[0]
	case 2:
		start, stop = nums[0], nums[1]
	case 3:
		start, stop, step = nums[0], nums[1], nums[2]
	default:
		return nil, errors.New("range: expected [start, ]stop[, step]")
	}
	if step == 0 {
		return nil, errors.New("range: step cannot be 0")
	}
	n := int64(0)
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n > maxListItems {
		return nil, runOf(e).stop(fmt.Errorf("%w: range(%d, %d, %d) has %d items, more than %d", ErrBudget, start, stop, step, n, maxListItems))
	}
	if err := runOf(e).step(int(n)/16 + 1); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	return out, nil
}
