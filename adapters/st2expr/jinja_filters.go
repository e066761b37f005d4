package st2expr

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// jinjaOwnFilters are Jinja's filters a template may use (gonja's implementations, bounded).
// Left out: random (a render must be repeatable), wordwrap and urlize (their output grows with
// an argument in ways the bounds cannot see in advance), forceescape/escape stay (harmless).
var jinjaOwnFilters = []string{
	"abs", "attr", "batch", "capitalize", "center", "default", "d", "dictsort", "escape", "e",
	"filesizeformat", "first", "float", "format", "groupby", "indent", "int", "join", "items",
	"last", "length", "count", "list", "lower", "map", "max", "min", "pprint", "reject",
	"rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort",
	"string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
	"urlencode", "wordcount", "xmlattr",
}

// growFilterName evaluates the operators that build strings and lists (*, +, ~): the walk
// turns `a * b` into `a | $grow('*', b)`. `$` cannot start a filter name in a template.
const growFilterName = "$grow"

// iterateFilterName charges a for-loop's collection when the loop starts: the walk turns
// `for x in xs` into `for x in xs | $iterate`.
const iterateFilterName = "$iterate"

func iterateFilter(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if in.IsList() || in.IsDict() || in.IsString() {
		if err := runOf(e).step(in.Len() + 1); err != nil {
			return exec.AsValue(err)
		}
	}
	return in
}

// textFilterName writes None as Python does ("None"; gonja writes ""): the compile wraps every
// {{ }} of a template that renders to text in it.
const textFilterName = "$text"

func textFilter(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
	if !in.IsError() && in.IsNil() {
		return exec.AsValue(jinjaText(in))
	}
	return in
}

// callerFilter is a caller's function as a filter: `{{ st2kv.system.k | decrypt_kv }}`.
func callerFilter(name string) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		r := runOf(e)
		f, ok := r.env.Funcs[name]
		if !ok {
			return exec.AsValue(fmt.Errorf("%s is not available here (the caller provides it only where StackStorm does)", name))
		}
		args := []any{goValue(in)}
		for _, a := range params.Args {
			args = append(args, goValue(a))
		}
		if len(params.KwArgs) > 0 {
			return exec.AsValue(fmt.Errorf("%s takes no keyword arguments", name))
		}
		if err := r.step(1); err != nil {
			return exec.AsValue(err)
		}
		v, err := f(r.ctx, args...)
		if err != nil {
			return exec.AsValue(fmt.Errorf("%s: %w", name, err))
		}
		return exec.AsValue(v)
	}
}

func jinjaFilters() map[string]exec.FilterFunction {
	out := map[string]exec.FilterFunction{
		growFilterName: growFilter, iterateFilterName: iterateFilter, textFilterName: textFilter,
	}
	for _, name := range CallerFuncs {
		out[name] = callerFilter(name)
	}
	for _, name := range jinjaOwnFilters {
		f, ok := builtins.Filters.Get(name)
		if !ok {
			panic("gonja lacks the " + name + " filter")
		}
		out[name] = boundedFilter(name, f)
	}
	for name, b := range st2Functions {
		out[name] = b.jinjaFilter(name)
	}
	out["reverse"] = boundedFilter("reverse", reverseFilter)
	return out
}

// reverseFilter is Jinja's reverse: gonja v2.9.1's sorts a list in reverse instead of
// reversing it.
func reverseFilter(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if len(params.Args) > 0 || len(params.KwArgs) > 0 {
		return exec.AsValue(errors.New("reverse takes no arguments"))
	}
	switch v := goValue(in).(type) {
	case string:
		r := []rune(v)
		slices.Reverse(r)
		return exec.AsValue(string(r))
	case []any:
		out := slices.Clone(v)
		slices.Reverse(out)
		return exec.AsValue(out)
	}
	return exec.AsValue(fmt.Errorf("reverse: %s is not a string or a list", in.String()))
}

// sizingArgs are the filters whose integer arguments set the size of what they build.
var sizingArgs = map[string]bool{"center": true, "indent": true, "truncate": true, "batch": true, "slice": true}

// longWidth is a run of digits in a format string large enough to ask for a huge padding.
var longWidth = regexp.MustCompile(`\d{7,}`)

// boundedFilter charges a filter's steps and refuses sizes over the bounds: the arguments that
// size its output before it runs, its output after.
func boundedFilter(name string, f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		cost := 1
		if !in.IsError() && (in.IsList() || in.IsDict() || in.IsString()) {
			cost += in.Len() / 16
		}
		if err := runOf(e).step(cost); err != nil {
			return exec.AsValue(err)
		}
		if err := checkFilterArgs(name, in, params); err != nil {
			return exec.AsValue(runOf(e).stop(fmt.Errorf("filter %s: %w", name, err)))
		}
		out := f(e, in, params)
		if err := checkValueSize(out); err != nil {
			return exec.AsValue(runOf(e).stop(fmt.Errorf("filter %s: %w", name, err)))
		}
		return out
	}
}

func checkFilterArgs(name string, in *exec.Value, params *exec.VarArgs) error {
	args := slices.Clone(params.Args)
	for _, v := range params.KwArgs {
		args = append(args, v)
	}
	if sizingArgs[name] {
		for _, a := range args {
			if a.IsInteger() && (a.Integer() > maxListItems || a.Integer() < -maxListItems) {
				return fmt.Errorf("%w: argument %d is larger than %d", ErrBudget, a.Integer(), maxListItems)
			}
			if a.IsString() && name == "indent" {
				if err := checkString((strings.Count(in.String(), "\n") + 1) * len(a.String())); err != nil {
					return err
				}
			}
		}
	}
	switch name {
	case "indent":
		if len(args) > 0 && args[0].IsInteger() {
			return checkString((strings.Count(in.String(), "\n") + 1) * (int(args[0].Integer()) + 1))
		}
	case "replace":
		if len(args) >= 2 {
			return checkReplace(in.String(), args[0].String(), args[1].String())
		}
	case "format":
		if longWidth.MatchString(in.String()) {
			return fmt.Errorf("%w: a width or precision of 7 digits or more", ErrBudget)
		}
	case "join":
		if len(args) > 0 && in.IsList() {
			return checkString(in.Len() * len(args[0].String()))
		}
	}
	return nil
}

// checkReplace refuses a replacement whose result would be over the bounds.
func checkReplace(s, old, repl string) error {
	n := strings.Count(s, old)
	if len(repl) > 0 && n > maxStringBytes/len(repl) {
		return checkString(maxStringBytes + 1)
	}
	return checkString(len(s) + n*len(repl))
}

// checkValueSize refuses a built string or list over the bounds.
func checkValueSize(v *exec.Value) error {
	switch {
	case v == nil || v.IsError():
		return nil
	case v.IsString():
		return checkString(len(v.String()))
	case v.IsList():
		return checkList(v.Len())
	}
	return nil
}

// jinjaArgs is a filter's or function's arguments as plain values.
func (b builtin) jinjaArgs(name string, first []any, va *exec.VarArgs) ([]any, error) {
	args := first
	for _, a := range va.Args {
		args = append(args, goValue(a))
	}
	kw := make(map[string]any, len(va.KwArgs))
	for k, v := range va.KwArgs {
		kw[k] = goValue(v)
	}
	return b.place(name, args, kw)
}

// place puts keyword arguments where the builtin's parameter names say, and checks the count.
func (b builtin) place(name string, args []any, kw map[string]any) ([]any, error) {
	for k, v := range kw {
		i := slices.Index(b.params, k)
		if i < 0 {
			return nil, fmt.Errorf("%s has no argument %q (it takes %s)", name, k, strings.Join(b.params, ", "))
		}
		for len(args) <= i {
			args = append(args, nil)
		}
		args[i] = v
	}
	if len(args) < b.min {
		return nil, fmt.Errorf("%s needs %d arguments (%s), got %d", name, b.min, strings.Join(b.params[:b.min], ", "), len(args))
	}
	if len(args) > len(b.params) {
		return nil, fmt.Errorf("%s takes at most %d arguments (%s), got %d", name, len(b.params), strings.Join(b.params, ", "), len(args))
	}
	return args, nil
}

// call runs the builtin under the run's bounds.
func (b builtin) call(r *run, name string, args []any) (any, error) {
	if err := r.step(1); err != nil {
		return nil, err
	}
	out, err := b.fn(r, args)
	if err != nil {
		return nil, r.stop(err)
	}
	switch x := out.(type) {
	case string:
		err = checkString(len(x))
	case []any:
		err = checkList(len(x))
	}
	return out, r.stop(err)
}

// jinjaFilter is the builtin as a filter: `value | name(args)`.
func (b builtin) jinjaFilter(name string) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		args, err := b.jinjaArgs(name, []any{goValue(in)}, params)
		if err != nil {
			return exec.AsValue(err)
		}
		out, err := b.call(runOf(e), name, args)
		if err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(out)
	}
}

// jinjaFunction is the builtin as a global function: `name(value, args)`, as Orquesta's
// Jinja and StackStorm's Mistral-era docs call them.
func (b builtin) jinjaFunction(name string) func(*exec.Evaluator, *exec.VarArgs) (any, error) {
	return func(e *exec.Evaluator, va *exec.VarArgs) (any, error) {
		args, err := b.jinjaArgs(name, nil, va)
		if err != nil {
			return nil, err
		}
		return b.call(runOf(e), name, args)
	}
}

// growFilter is `*`, `+` and `~` as gonja evaluates them, with the size of a string or list
// result checked before it is built.
func growFilter(e *exec.Evaluator, left *exec.Value, params *exec.VarArgs) *exec.Value {
	if left.IsError() {
		return left
	}
	if err := runOf(e).step(1); err != nil {
		return exec.AsValue(err)
	}
	op, right := params.Args[0].String(), params.Args[1]
	fail := func(err error) *exec.Value {
		return exec.AsValue(runOf(e).stop(fmt.Errorf("%s %s: %w", op, clip(right.String()), err)))
	}
	switch op {
	case "*":
		switch {
		case left.IsFloat() || right.IsFloat():
			return exec.AsValue(left.Float() * right.Float())
		case left.IsString():
			n := max(right.Integer(), 0)
			if n > maxStringBytes || checkString(len(left.String())*n) != nil {
				return fail(checkString(maxStringBytes + 1))
			}
			return exec.AsValue(strings.Repeat(left.String(), n))
		}
		return exec.AsValue(left.Integer() * right.Integer())
	case "+":
		switch {
		case left.IsList():
			if !right.IsList() {
				return fail(errors.New("a list can only be added to a list"))
			}
			if err := checkList(left.Len() + right.Len()); err != nil {
				return fail(err)
			}
			out := make([]any, 0, left.Len()+right.Len())
			for _, side := range []*exec.Value{left, right} {
				for i := range side.Len() {
					out = append(out, side.Index(i).Interface())
				}
			}
			return exec.AsValue(out)
		case left.IsFloat() || right.IsFloat():
			return exec.AsValue(left.Float() + right.Float())
		case left.IsString() || right.IsString():
			if err := checkString(len(left.String()) + len(right.String())); err != nil {
				return fail(err)
			}
			return exec.AsValue(left.String() + right.String())
		}
		return exec.AsValue(left.Integer() + right.Integer())
	default: // "~", which writes None as Python does
		l, r := jinjaText(left), jinjaText(right)
		if err := checkString(len(l) + len(r)); err != nil {
			return fail(err)
		}
		return exec.AsValue(l + r)
	}
}

// jinjaText is a value as Jinja writes it into text: None as "None", the rest as gonja does.
func jinjaText(v *exec.Value) string {
	if v.IsNil() {
		return "None"
	}
	return v.String()
}

// jinjaMethods are the Python methods a template may call on values: every string method
// (sizes checked), and the dict and list methods that do not change the value (a render must
// not change the caller's data, which other renders may be reading).
func jinjaMethods() exec.Methods {
	all := builtins.Methods
	str := map[string]exec.Method[string]{}
	for _, name := range []string{
		"capitalize", "capwords", "casefold", "center", "count", "endswith", "expandtabs", "find",
		"format", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric",
		"isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip",
		"partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust", "rpartition",
		"rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
		"upper", "zfill",
	} {
		m, ok := all.Str.Get(name)
		if !ok {
			panic("gonja lacks the str." + name + " method")
		}
		str[name] = boundedStrMethod(name, m)
	}
	dict := map[string]exec.Method[map[string]any]{}
	for _, name := range []string{"keys", "values", "items", "get", "copy"} {
		m, _ := all.Dict.Get(name)
		dict[name] = m
	}
	list := map[string]exec.Method[[]any]{}
	if m, ok := all.List.Get("copy"); ok {
		list["copy"] = m
	}
	return exec.Methods{
		Bool: all.Bool, Int: all.Int, Float: all.Float,
		Str: exec.NewMethodSet(str), Dict: exec.NewMethodSet(dict), List: exec.NewMethodSet(list),
	}
}

func boundedStrMethod(name string, m exec.Method[string]) exec.Method[string] {
	return func(self string, sv *exec.Value, va *exec.VarArgs) (any, error) {
		for _, a := range va.Args {
			if a.IsInteger() && a.Integer() > maxStringBytes {
				return nil, fmt.Errorf("str.%s: %w: argument %d is larger than %d", name, ErrBudget, a.Integer(), maxStringBytes)
			}
		}
		switch name {
		case "expandtabs":
			if len(va.Args) > 0 && checkString(strings.Count(self, "\t")*va.Args[0].Integer()+len(self)) != nil {
				return nil, fmt.Errorf("str.expandtabs: %w", checkString(maxStringBytes+1))
			}
		case "replace":
			if len(va.Args) >= 2 {
				if err := checkReplace(self, va.Args[0].String(), va.Args[1].String()); err != nil {
					return nil, fmt.Errorf("str.replace: %w", err)
				}
			}
		case "format":
			if longWidth.MatchString(self) {
				return nil, fmt.Errorf("str.format: %w: a width or precision of 7 digits or more", ErrBudget)
			}
		case "join":
			if len(va.Args) > 0 && va.Args[0].IsList() {
				if err := checkString(va.Args[0].Len() * len(self)); err != nil {
					return nil, fmt.Errorf("str.join: %w", err)
				}
			}
		}
		out, err := m(self, sv, va)
		if s, ok := out.(string); ok && err == nil {
			err = checkString(len(s))
		}
		return out, err
	}
}
