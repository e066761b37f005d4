package st2expr

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ycall is one call being evaluated: its arguments are evaluated on demand, so that select,
// where and the like can evaluate theirs once per item with $ bound to the item.
type ycall struct {
	e    *yeval
	node *yCall
	args []yNode // the receiver of a method call first
}

func (c *ycall) n() int { return len(c.args) }

func (c *ycall) val(i int) (any, error) { return c.e.eval(c.args[i]) }

func (c *ycall) vals() ([]any, error) {
	out := make([]any, len(c.args))
	for i := range c.args {
		v, err := c.val(i)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// lambda evaluates argument i with $ bound to item.
func (c *ycall) lambda(i int, item any) (any, error) { return c.e.with(item).eval(c.args[i]) }

// kw evaluates the keyword argument name, if given.
func (c *ycall) kw(name string) (any, bool, error) {
	for _, k := range c.node.kwargs {
		if k.name == name {
			v, err := c.e.eval(k.v)
			return v, true, err
		}
	}
	return nil, false, nil
}

func (c *ycall) arity(min, max int) error {
	if c.n() < min || (max >= 0 && c.n() > max) {
		want := fmt.Sprintf("%d to %d", min, max)
		switch {
		case min == max:
			want = strconv.Itoa(min)
		case max < 0:
			want = fmt.Sprintf("at least %d", min)
		}
		return fmt.Errorf("offset %d: %s() takes %s arguments (a method's value counts), got %d", c.node.pos, c.node.name, want, c.n())
	}
	for _, k := range c.node.kwargs {
		if !slicesContain(yaqlKeywords[c.node.name], k.name) {
			return fmt.Errorf("offset %d: %s() has no keyword argument %q", c.node.pos, c.node.name, k.name)
		}
	}
	return nil
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// yaqlKeywords are the keyword arguments (name => value) each function takes.
var yaqlKeywords = map[string][]string{"dict": nil, "zip": {"pad"}, "first": {"default"}, "last": {"default"}}

// call evaluates a function or method call.
func (e *yeval) call(x *yCall) (any, error) {
	c := &ycall{e: e, node: x, args: x.args}
	if x.recv != nil {
		c.args = append([]yNode{x.recv}, x.args...)
	}
	if f, ok := yaqlFunctions[x.name]; ok {
		out, err := f(c)
		if err != nil {
			return nil, e.r.stop(err)
		}
		return normalize(out), nil
	}
	if b, ok := st2Functions[x.name]; ok {
		args, err := c.vals()
		if err != nil {
			return nil, err
		}
		kw := map[string]any{}
		for _, k := range x.kwargs {
			if kw[k.name], err = e.eval(k.v); err != nil {
				return nil, err
			}
		}
		if args, err = b.place(x.name, args, kw); err != nil {
			return nil, fmt.Errorf("offset %d: %w", x.pos, err)
		}
		out, err := b.call(e.r, x.name, args)
		if err != nil {
			return nil, fmt.Errorf("offset %d: %w", x.pos, err)
		}
		return normalize(out), nil
	}
	return e.callerFunc(c)
}

// callerFunc calls a function the engine provides (ctx, task, st2kv, …).
func (e *yeval) callerFunc(c *ycall) (any, error) {
	name := c.node.name
	f, ok := e.r.env.Funcs[name]
	if !ok {
		return nil, fmt.Errorf("offset %d: %s() is not available here (the caller provides it only where StackStorm does)", c.node.pos, name)
	}
	args, err := c.vals()
	if err != nil {
		return nil, err
	}
	for _, k := range c.node.kwargs {
		// st2kv(key, decrypt => true) is the one keyword argument StackStorm documents.
		if name != "st2kv" || k.name != "decrypt" {
			return nil, fmt.Errorf("offset %d: %s() has no keyword argument %q", c.node.pos, name, k.name)
		}
		v, err := e.eval(k.v)
		if err != nil {
			return nil, err
		}
		for len(args) < 2 {
			args = append(args, nil)
		}
		args[1] = v
	}
	if err := e.r.step(1); err != nil {
		return nil, err
	}
	out, err := f(e.r.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("%s(): %w", name, err)
	}
	return normalize(out), nil
}

type yfunc func(c *ycall) (any, error)

// yaqlFunctions are YAQL's standard functions that StackStorm content uses; StackStorm's own
// (st2Functions) and the caller's (Env.Funcs) are looked up after these.
var yaqlFunctions map[string]yfunc

func init() {
	yaqlFunctions = map[string]yfunc{
		"let":   func(c *ycall) (any, error) { return c.e.dollar, nil }, // bindings: see arrow
		"len":   unary(yLen),
		"count": unary(yLen),
		"str":   unary(func(v any) (any, error) { return pyStr(v), nil }),
		"int":   unary(yInt),
		"float": unary(yFloat),
		"bool":  unary(func(v any) (any, error) { return truthy(v), nil }),
		"abs": unary(func(v any) (any, error) {
			switch n := v.(type) {
			case int64:
				return max(n, -n), nil
			case float64:
				return math.Abs(n), nil
			}
			return nil, fmt.Errorf("abs(%s): not a number", pyRepr(v))
		}),
		"round": yRound,
		"list": func(c *ycall) (any, error) {
			if err := checkList(c.n()); err != nil {
				return nil, err
			}
			return c.vals()
		},
		"toList":  unary(func(v any) (any, error) { return asList("toList", v) }),
		"dict":    yDictFn,
		"keys":    unary(func(v any) (any, error) { return dictPart("keys", v, 0) }),
		"values":  unary(func(v any) (any, error) { return dictPart("values", v, 1) }),
		"items":   unary(func(v any) (any, error) { return dictPart("items", v, 2) }),
		"get":     yGet,
		"set":     ySet,
		"delete":  yDelete,
		"join":    yJoin,
		"split":   ySplit,
		"replace": yReplace,
		"toUpper": unaryStr(strings.ToUpper),
		"toLower": unaryStr(strings.ToLower),
		"trim":    yTrim(strings.Trim, strings.TrimSpace),
		"trimLeft": yTrim(strings.TrimLeft, func(s string) string {
			return strings.TrimLeft(s, " \t\n\r\v\f")
		}),
		"trimRight": yTrim(strings.TrimRight, func(s string) string {
			return strings.TrimRight(s, " \t\n\r\v\f")
		}),
		"startsWith": yAffix(strings.HasPrefix),
		"endsWith":   yAffix(strings.HasSuffix),
		"contains": func(c *ycall) (any, error) {
			if err := c.arity(2, 2); err != nil {
				return nil, err
			}
			v, err := c.vals()
			if err != nil {
				return nil, err
			}
			return contains(v[0], v[1]), nil
		},
		"substring":         ySubstring,
		"indexOf":           yIndexOf,
		"concat":            yConcat,
		"format":            yFormat,
		"select":            yMap(false),
		"where":             yMap(true),
		"filter":            yMap(true),
		"first":             yEnd(true),
		"last":              yEnd(false),
		"distinct":          yDistinct,
		"sum":               ySum,
		"max":               yExtreme(1),
		"min":               yExtreme(-1),
		"range":             yRange,
		"any":               yQuantifier(true),
		"all":               yQuantifier(false),
		"orderBy":           yOrder(false),
		"orderByDescending": yOrder(true),
		"skip":              ySlice(true),
		"take":              ySlice(false),
		"limit":             ySlice(false),
		"flatten":           yFlatten,
		"reverse": unary(func(v any) (any, error) {
			l, err := asList("reverse", v)
			if err != nil {
				return nil, err
			}
			out := make([]any, len(l))
			for i, x := range l {
				out[len(l)-1-i] = x
			}
			return out, nil
		}),
		"isList":    isKind(func(v any) bool { _, ok := v.([]any); return ok }),
		"isDict":    isKind(func(v any) bool { _, ok := v.(map[string]any); return ok }),
		"isString":  isKind(func(v any) bool { _, ok := v.(string); return ok }),
		"isInteger": isKind(func(v any) bool { _, ok := v.(int64); return ok }),
		"isNumber":  isKind(func(v any) bool { _, ok := number(v); return ok }),
		"isBoolean": isKind(func(v any) bool { _, ok := v.(bool); return ok }),
		"mergeWith": yMergeWith,
		"selectMany": func(c *ycall) (any, error) {
			lists, err := yMap(false)(c)
			if err != nil {
				return nil, err
			}
			return flatten(lists.([]any))
		},
		"indexWhere": yIndexWhere,
		"zip":        yZip,
		"random":     yRandom,
		"json":       unary(yJSON),
		"isEmpty": unary(func(v any) (any, error) {
			n, err := yLen(v)
			if err != nil {
				return v == nil, nil
			}
			return n == int64(0), nil
		}),
	}
}

// unary is a function of one value (a method of it: $.x.len()).
func unary(f func(any) (any, error)) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(1, 1); err != nil {
			return nil, err
		}
		v, err := c.val(0)
		if err != nil {
			return nil, err
		}
		out, err := f(v)
		if err != nil {
			return nil, fmt.Errorf("offset %d: %w", c.node.pos, err)
		}
		return out, nil
	}
}

func unaryStr(f func(string) string) yfunc {
	return unary(func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s is not a string", pyRepr(v))
		}
		return f(s), nil
	})
}

func yLen(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return int64(len([]rune(x))), nil
	case []any:
		return int64(len(x)), nil
	case map[string]any:
		return int64(len(x)), nil
	}
	return nil, fmt.Errorf("len(%s): not a string, list or dict", pyRepr(v))
}

func yInt(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return i, nil
		}
		return nil, fmt.Errorf("int(%s): not an integer", pyRepr(v))
	case nil:
		return int64(0), nil
	}
	return toInt(v)
}

func yFloat(v any) (any, error) {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return nil, fmt.Errorf("float(%s): not a number", pyRepr(v))
		}
		return f, nil
	case bool:
		if x {
			return 1.0, nil
		}
		return 0.0, nil
	}
	if f, ok := number(v); ok {
		return f, nil
	}
	return nil, fmt.Errorf("float(%s): not a number", pyRepr(v))
}

func yRound(c *ycall) (any, error) {
	if err := c.arity(1, 2); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	f, ok := number(v[0])
	if !ok {
		return nil, fmt.Errorf("round(%s): not a number", pyRepr(v[0]))
	}
	if len(v) == 1 {
		return int64(math.RoundToEven(f)), nil
	}
	digits, err := toInt(v[1])
	if err != nil || digits < -20 || digits > 20 {
		return nil, fmt.Errorf("round: digits must be a number from -20 to 20")
	}
	p := math.Pow(10, float64(digits))
	return math.RoundToEven(f*p) / p, nil
}

func asList(name string, v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case map[string]any:
		return dictPart(name, x, 0)
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: %s is not a list", name, pyRepr(v))
}

func asDict(name string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s is not a dict", name, pyRepr(v))
	}
	return m, nil
}

// dictPart is a dict's keys (0), values (1) or [key, value] items (2), in key order.
func dictPart(name string, v any, part int) ([]any, error) {
	m, err := asDict(name, v)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(m))
	for _, k := range sortedMapKeys(m) {
		switch part {
		case 0:
			out = append(out, k)
		case 1:
			out = append(out, m[k])
		default:
			out = append(out, []any{k, m[k]})
		}
	}
	return out, nil
}

// yDictFn is dict(a => 1, …), dict(list of [key, value]) and dict(pair, pair, …).
func yDictFn(c *ycall) (any, error) {
	out := map[string]any{}
	add := func(pair any) error {
		p, ok := pair.([]any)
		if !ok || len(p) != 2 {
			return fmt.Errorf("offset %d: dict(): %s is not a [key, value] pair", c.node.pos, clip(pyRepr(pair)))
		}
		out[pyStr(p[0])] = p[1]
		return nil
	}
	args, err := c.vals()
	if err != nil {
		return nil, err
	}
	for _, a := range args {
		switch x := a.(type) {
		case map[string]any:
			for k, v := range x {
				out[k] = v
			}
		case []any:
			if len(x) == 2 && !isPairList(x) {
				if err := add(x); err != nil {
					return nil, err
				}
				continue
			}
			for _, p := range x {
				if err := add(p); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("offset %d: dict(): %s is neither a dict nor a list of pairs", c.node.pos, clip(pyRepr(a)))
		}
	}
	for _, k := range c.node.kwargs {
		v, err := c.e.eval(k.v)
		if err != nil {
			return nil, err
		}
		out[k.name] = v
	}
	return out, nil
}

func isPairList(l []any) bool {
	for _, p := range l {
		if pl, ok := p.([]any); !ok || len(pl) != 2 {
			return false
		}
	}
	return true
}

// yGet is dict.get(key, default = null), and list.get(index, default).
func yGet(c *ycall) (any, error) {
	if err := c.arity(2, 3); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	def := any(nil)
	if len(v) == 3 {
		def = v[2]
	}
	switch x := v[0].(type) {
	case map[string]any:
		if got, ok := x[pyStr(v[1])]; ok {
			return got, nil
		}
	case []any:
		if i, err := toInt(v[1]); err == nil && i >= 0 && i < int64(len(x)) {
			return x[i], nil
		}
	case nil:
	default:
		return nil, fmt.Errorf("offset %d: get(): %s is not a dict", c.node.pos, clip(pyRepr(v[0])))
	}
	return def, nil
}

// ySet is dict.set(key, value) and dict.set(otherDict): a new dict.
func ySet(c *ycall) (any, error) {
	if err := c.arity(2, 3); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	m, err := asDict("set", v[0])
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	if len(v) == 3 {
		out[pyStr(v[1])] = v[2]
		return out, nil
	}
	other, err := asDict("set", v[1])
	if err != nil {
		return nil, err
	}
	for k, x := range other {
		out[k] = x
	}
	return out, nil
}

func yDelete(c *ycall) (any, error) {
	if err := c.arity(2, -1); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	m, err := asDict("delete", v[0])
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	for _, k := range v[1:] {
		delete(out, pyStr(k))
	}
	return out, nil
}

// yJoin is join(list, sep), list.join(sep), and sep.join(list) / join(sep, list).
func yJoin(c *ycall) (any, error) {
	if err := c.arity(2, 2); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	list, sep := v[0], v[1]
	if _, isStr := list.(string); isStr {
		list, sep = sep, list
	}
	l, err := asList("join", list)
	if err != nil {
		return nil, err
	}
	s, ok := sep.(string)
	if !ok {
		return nil, fmt.Errorf("offset %d: join(): the separator %s is not a string", c.node.pos, pyRepr(sep))
	}
	if err := checkString(len(l) * len(s)); err != nil {
		return nil, err
	}
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = pyStr(x)
	}
	return strings.Join(parts, s), nil
}

func str1(c *ycall, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("offset %d: %s(): %s is not a string", c.node.pos, c.node.name, clip(pyRepr(v)))
	}
	return s, nil
}

func ySplit(c *ycall) (any, error) {
	if err := c.arity(1, 3); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	s, err := str1(c, v[0])
	if err != nil {
		return nil, err
	}
	n := -1
	if len(v) == 3 {
		m, err := toInt(v[2])
		if err != nil {
			return nil, err
		}
		if m >= 0 {
			n = int(m) + 1
		}
	}
	var parts []string
	if len(v) == 1 || v[1] == nil {
		parts = strings.Fields(s) // Python's split(): runs of blanks
		if n > 0 && len(parts) > n {
			parts = append(parts[:n-1], strings.Join(parts[n-1:], " "))
		}
	} else {
		sep, err := str1(c, v[1])
		if err != nil {
			return nil, err
		}
		if sep == "" {
			return nil, fmt.Errorf("offset %d: split(): empty separator", c.node.pos)
		}
		parts = strings.SplitN(s, sep, n)
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func yReplace(c *ycall) (any, error) {
	if err := c.arity(3, 4); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	var s [3]string
	for i := range s {
		if s[i], err = str1(c, v[i]); err != nil {
			return nil, err
		}
	}
	n := -1
	if len(v) == 4 {
		m, err := toInt(v[3])
		if err != nil {
			return nil, err
		}
		n = int(m)
	}
	if err := checkReplace(s[0], s[1], s[2]); err != nil {
		return nil, err
	}
	return strings.Replace(s[0], s[1], s[2], n), nil
}

func yTrim(withChars func(string, string) string, blanks func(string) string) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(1, 2); err != nil {
			return nil, err
		}
		v, err := c.vals()
		if err != nil {
			return nil, err
		}
		s, err := str1(c, v[0])
		if err != nil {
			return nil, err
		}
		if len(v) == 2 && v[1] != nil {
			chars, err := str1(c, v[1])
			if err != nil {
				return nil, err
			}
			return withChars(s, chars), nil
		}
		return blanks(s), nil
	}
}

func yAffix(test func(string, string) bool) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(2, -1); err != nil {
			return nil, err
		}
		v, err := c.vals()
		if err != nil {
			return nil, err
		}
		s, err := str1(c, v[0])
		if err != nil {
			return nil, err
		}
		for _, a := range v[1:] {
			affix, err := str1(c, a)
			if err != nil {
				return nil, err
			}
			if test(s, affix) {
				return true, nil
			}
		}
		return false, nil
	}
}

func ySubstring(c *ycall) (any, error) {
	if err := c.arity(2, 3); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	s, err := str1(c, v[0])
	if err != nil {
		return nil, err
	}
	runes := []rune(s)
	start, err := toInt(v[1])
	if err != nil {
		return nil, err
	}
	if start < 0 {
		start += int64(len(runes))
	}
	start = max(0, min(start, int64(len(runes))))
	end := int64(len(runes))
	if len(v) == 3 {
		n, err := toInt(v[2])
		if err != nil {
			return nil, err
		}
		if n >= 0 {
			end = min(end, start+n)
		}
	}
	return string(runes[start:end]), nil
}

func yIndexOf(c *ycall) (any, error) {
	if err := c.arity(2, 2); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	switch x := v[0].(type) {
	case string:
		sub, err := str1(c, v[1])
		if err != nil {
			return nil, err
		}
		i := strings.Index(x, sub)
		if i < 0 {
			return int64(-1), nil
		}
		return int64(len([]rune(x[:i]))), nil
	case []any:
		for i, item := range x {
			if equal(item, v[1]) {
				return int64(i), nil
			}
		}
		return int64(-1), nil
	}
	return nil, fmt.Errorf("offset %d: indexOf(): %s is not a string or list", c.node.pos, clip(pyRepr(v[0])))
}

// yConcat joins strings (YAQL's concat), or lists when every argument is one.
func yConcat(c *ycall) (any, error) {
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	allLists := len(v) > 0
	for _, x := range v {
		if _, ok := x.([]any); !ok {
			allLists = false
		}
	}
	if allLists {
		var out []any
		for _, x := range v {
			out = append(out, x.([]any)...)
			if err := checkList(len(out)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var b strings.Builder
	for _, x := range v {
		s := pyStr(x)
		if err := checkString(b.Len() + len(s)); err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// formatField is one {…} of Python's str.format: an index, a name or nothing; format specs
// are refused.
var formatField = regexp.MustCompile(`\{\{|\}\}|\{([^{}]*)\}`)

func yFormat(c *ycall) (any, error) {
	if err := c.arity(1, -1); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	f, err := str1(c, v[0])
	if err != nil {
		return nil, err
	}
	args := v[1:]
	named := map[string]any{}
	for _, k := range c.node.kwargs {
		if named[k.name], err = c.e.eval(k.v); err != nil {
			return nil, err
		}
	}
	next := 0
	var ferr error
	out := formatField.ReplaceAllStringFunc(f, func(m string) string {
		switch m {
		case "{{":
			return "{"
		case "}}":
			return "}"
		}
		field := m[1 : len(m)-1]
		if strings.ContainsAny(field, ":!.[") {
			ferr = fmt.Errorf("offset %d: format(): field %q: format specifications are not in Attune's YAQL subset", c.node.pos, m)
			return ""
		}
		var val any
		switch i, err := strconv.Atoi(field); {
		case field == "":
			if next >= len(args) {
				ferr = fmt.Errorf("offset %d: format(): not enough arguments for %q", c.node.pos, f)
				return ""
			}
			val = args[next]
			next++
		case err == nil:
			if i < 0 || i >= len(args) {
				ferr = fmt.Errorf("offset %d: format(): no argument %d", c.node.pos, i)
				return ""
			}
			val = args[i]
		default:
			var ok bool
			if val, ok = named[field]; !ok {
				ferr = fmt.Errorf("offset %d: format(): no argument %q", c.node.pos, field)
				return ""
			}
		}
		return pyStr(val)
	})
	if ferr != nil {
		return nil, ferr
	}
	return out, checkString(len(out))
}

// yMap is select (keep the lambda's values) and where/filter (keep the items it is true for).
func yMap(filter bool) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(2, 2); err != nil {
			return nil, err
		}
		coll, err := c.val(0)
		if err != nil {
			return nil, err
		}
		l, err := asList(c.node.name, coll)
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(l))
		for _, item := range l {
			v, err := c.lambda(1, item)
			if err != nil {
				return nil, err
			}
			switch {
			case !filter:
				out = append(out, v)
			case truthy(v):
				out = append(out, item)
			}
		}
		return out, nil
	}
}

// yEnd is first and last: the item, or the default when the list is empty.
func yEnd(first bool) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(1, 2); err != nil {
			return nil, err
		}
		v, err := c.vals()
		if err != nil {
			return nil, err
		}
		l, err := asList(c.node.name, v[0])
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			if len(v) == 2 {
				return v[1], nil
			}
			if d, ok, err := c.kw("default"); ok || err != nil {
				return d, err
			}
			return nil, fmt.Errorf("offset %d: %s(): the list is empty (give a default: %s(default))", c.node.pos, c.node.name, c.node.name)
		}
		if first {
			return l[0], nil
		}
		return l[len(l)-1], nil
	}
}

func yDistinct(c *ycall) (any, error) {
	if err := c.arity(1, 1); err != nil {
		return nil, err
	}
	v, err := c.val(0)
	if err != nil {
		return nil, err
	}
	l, err := asList("distinct", v)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []any
	for _, x := range l {
		if err := c.e.r.step(1); err != nil {
			return nil, err
		}
		k := pyRepr(normalizeNumber(x))
		if !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out, nil
}

// normalizeNumber makes 1.0 and 1 the same key for distinct.
func normalizeNumber(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

func ySum(c *ycall) (any, error) {
	if err := c.arity(1, 1); err != nil {
		return nil, err
	}
	v, err := c.val(0)
	if err != nil {
		return nil, err
	}
	l, err := asList("sum", v)
	if err != nil {
		return nil, err
	}
	var total any = int64(0)
	for _, x := range l {
		if total, err = arithmetic("+", total, x); err != nil {
			return nil, fmt.Errorf("offset %d: sum(): %w", c.node.pos, err)
		}
	}
	return total, nil
}

// yExtreme is max and min: of a list, or of the arguments.
func yExtreme(sign int) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(1, -1); err != nil {
			return nil, err
		}
		v, err := c.vals()
		if err != nil {
			return nil, err
		}
		items := v
		if len(v) == 1 {
			if items, err = asList(c.node.name, v[0]); err != nil {
				return nil, err
			}
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("offset %d: %s() of an empty list", c.node.pos, c.node.name)
		}
		best := items[0]
		for _, x := range items[1:] {
			cmp, ok := compare(x, best)
			if !ok {
				return nil, fmt.Errorf("offset %d: %s(): %s and %s cannot be compared", c.node.pos, c.node.name, clip(pyRepr(x)), clip(pyRepr(best)))
			}
			if cmp*sign > 0 {
				best = x
			}
		}
		return best, nil
	}
}

func yRange(c *ycall) (any, error) {
	if err := c.arity(1, 3); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	nums := make([]int64, len(v))
	for i, x := range v {
		if nums[i], err = toInt(x); err != nil {
			return nil, fmt.Errorf("offset %d: range(): %w", c.node.pos, err)
		}
	}
	start, stop, step := int64(0), nums[0], int64(1)
	if len(nums) > 1 {
		start, stop = nums[0], nums[1]
	}
	if len(nums) > 2 {
		step = nums[2]
	}
	if step == 0 {
		return nil, fmt.Errorf("offset %d: range(): step cannot be 0", c.node.pos)
	}
	n := int64(0)
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n > maxListItems {
		return nil, fmt.Errorf("%w: range(%d, %d, %d) has %d items, more than %d", ErrBudget, start, stop, step, n, maxListItems)
	}
	if err := c.e.r.step(int(n)/16 + 1); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	return out, nil
}

// yQuantifier is any and all, with or without a predicate.
func yQuantifier(isAny bool) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(1, 2); err != nil {
			return nil, err
		}
		coll, err := c.val(0)
		if err != nil {
			return nil, err
		}
		l, err := asList(c.node.name, coll)
		if err != nil {
			return nil, err
		}
		for _, item := range l {
			v := item
			if c.n() == 2 {
				if v, err = c.lambda(1, item); err != nil {
					return nil, err
				}
			}
			if truthy(v) == isAny {
				return isAny, nil
			}
		}
		return !isAny, nil
	}
}

func yOrder(desc bool) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(1, 2); err != nil {
			return nil, err
		}
		coll, err := c.val(0)
		if err != nil {
			return nil, err
		}
		l, err := asList(c.node.name, coll)
		if err != nil {
			return nil, err
		}
		keys := make([]any, len(l))
		for i, item := range l {
			keys[i] = item
			if c.n() == 2 {
				if keys[i], err = c.lambda(1, item); err != nil {
					return nil, err
				}
			}
		}
		idx := make([]int, len(l))
		for i := range idx {
			idx[i] = i
		}
		var cmpErr error
		sort.SliceStable(idx, func(a, b int) bool {
			cmp, ok := compare(keys[idx[a]], keys[idx[b]])
			if !ok {
				cmpErr = fmt.Errorf("offset %d: %s(): %s and %s cannot be compared", c.node.pos, c.node.name, clip(pyRepr(keys[idx[a]])), clip(pyRepr(keys[idx[b]])))
			}
			if desc {
				return cmp > 0
			}
			return cmp < 0
		})
		if cmpErr != nil {
			return nil, cmpErr
		}
		out := make([]any, len(l))
		for i, j := range idx {
			out[i] = l[j]
		}
		return out, nil
	}
}

// ySlice is skip(n) (drop) and take(n)/limit(n) (keep).
func ySlice(drop bool) yfunc {
	return func(c *ycall) (any, error) {
		if err := c.arity(2, 2); err != nil {
			return nil, err
		}
		v, err := c.vals()
		if err != nil {
			return nil, err
		}
		l, err := asList(c.node.name, v[0])
		if err != nil {
			return nil, err
		}
		n, err := toInt(v[1])
		if err != nil {
			return nil, err
		}
		n = max(0, min(n, int64(len(l))))
		if drop {
			return l[n:], nil
		}
		return l[:n], nil
	}
}

func yFlatten(c *ycall) (any, error) {
	if err := c.arity(1, 1); err != nil {
		return nil, err
	}
	v, err := c.val(0)
	if err != nil {
		return nil, err
	}
	l, err := asList("flatten", v)
	if err != nil {
		return nil, err
	}
	return flatten(l)
}

// flatten is a list's items with the lists among them spliced in (one level).
func flatten(l []any) (any, error) {
	var out []any
	for _, x := range l {
		if inner, ok := x.([]any); ok {
			out = append(out, inner...)
		} else {
			out = append(out, x)
		}
		if err := checkList(len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isKind(test func(any) bool) yfunc {
	return unary(func(v any) (any, error) { return test(v), nil })
}

// yMergeWith is YAQL's dict.mergeWith(other): other's keys win, dicts under the same key
// merged the same way, lists joined without repeats.
func yMergeWith(c *ycall) (any, error) {
	if err := c.arity(2, 2); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	a, err := asDict("mergeWith", v[0])
	if err != nil {
		return nil, err
	}
	b, err := asDict("mergeWith", v[1])
	if err != nil {
		return nil, err
	}
	return mergeDicts(a, b), nil
}

func mergeDicts(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		old, ok := out[k]
		switch {
		case !ok:
			out[k] = v
		case isDictPair(old, v):
			out[k] = mergeDicts(old.(map[string]any), v.(map[string]any))
		case isListPair(old, v):
			merged := append([]any{}, old.([]any)...)
			for _, x := range v.([]any) {
				if !contains(merged, x) {
					merged = append(merged, x)
				}
			}
			out[k] = merged
		default:
			out[k] = v
		}
	}
	return out
}

func isDictPair(a, b any) bool {
	_, okA := a.(map[string]any)
	_, okB := b.(map[string]any)
	return okA && okB
}

func isListPair(a, b any) bool {
	_, okA := a.([]any)
	_, okB := b.([]any)
	return okA && okB
}

// yIndexWhere is the index of the first item the predicate is true for, or -1.
func yIndexWhere(c *ycall) (any, error) {
	if err := c.arity(2, 2); err != nil {
		return nil, err
	}
	coll, err := c.val(0)
	if err != nil {
		return nil, err
	}
	l, err := asList("indexWhere", coll)
	if err != nil {
		return nil, err
	}
	for i, item := range l {
		v, err := c.lambda(1, item)
		if err != nil {
			return nil, err
		}
		if truthy(v) {
			return int64(i), nil
		}
	}
	return int64(-1), nil
}

// yZip is Orquesta's zip(list, list, …, pad => x): the lists side by side, the shorter padded.
func yZip(c *ycall) (any, error) {
	if err := c.arity(1, -1); err != nil {
		return nil, err
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	pad, _, err := c.kw("pad")
	if err != nil {
		return nil, err
	}
	return zipLists(v, pad)
}

// zipLists is Orquesta's zip_: None counts as an empty list, one list is returned as it is.
func zipLists(v []any, pad any) (any, error) {
	lists := make([][]any, len(v))
	longest := 0
	for i, x := range v {
		if x != nil {
			l, err := asList("zip", x)
			if err != nil {
				return nil, err
			}
			lists[i] = l
		}
		longest = max(longest, len(lists[i]))
	}
	if len(lists) == 1 {
		return lists[0], nil
	}
	if err := checkList(longest); err != nil {
		return nil, err
	}
	out := make([]any, longest)
	for i := range out {
		row := make([]any, len(lists))
		for j, l := range lists {
			row[j] = pad
			if i < len(l) {
				row[j] = l[i]
			}
		}
		out[i] = row
	}
	return out, nil
}

// yRandom is random() in [0, 1) and random(from, to) in [from, to], as YAQL's (content uses
// it for unique names: /tmp/<% str(random(1000000, 9999999)) %>).
func yRandom(c *ycall) (any, error) {
	if err := c.arity(0, 2); err != nil {
		return nil, err
	}
	if c.n() == 0 {
		return rand.Float64(), nil
	}
	if c.n() != 2 {
		return nil, fmt.Errorf("offset %d: random() takes no arguments or two (from, to)", c.node.pos)
	}
	v, err := c.vals()
	if err != nil {
		return nil, err
	}
	from, err := toInt(v[0])
	if err != nil {
		return nil, err
	}
	to, err := toInt(v[1])
	if err != nil || to < from {
		return nil, fmt.Errorf("offset %d: random(from, to) needs two integers, from <= to", c.node.pos)
	}
	return from + rand.Int64N(to-from+1), nil
}

// yJSON is Orquesta's json(): a dict as it is, a string parsed.
func yJSON(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case string:
		return fromJSONString(nil, []any{x})
	}
	return nil, errors.New("json(): the value is not a string")
}

// compare orders two numbers or two strings.
func compare(a, b any) (int, bool) {
	a, b = normalize(a), normalize(b)
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			switch {
			case fa < fb:
				return -1, true
			case fa > fb:
				return 1, true
			}
			return 0, true
		}
	}
	sa, okA := a.(string)
	sb, okB := b.(string)
	if okA && okB {
		return strings.Compare(sa, sb), true
	}
	return 0, false
}

// number is a numeric value as a float64 (bools are not numbers here).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

// pyStr is Python's str(): a string as it is, anything else as pyRepr writes it. Orquesta
// writes a value into surrounding text this way.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a JSON-shaped value (dict keys sorted).
func pyRepr(v any) string {
	switch x := normalize(v).(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case string:
		q := "'"
		if strings.Contains(x, "'") && !strings.Contains(x, `"`) {
			q = `"`
		}
		r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`, q, `\`+q)
		return q + r.Replace(x) + q
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range sortedMapKeys(x) {
			parts = append(parts, pyRepr(k)+": "+pyRepr(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
