package ruleeval

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The criteria operators are StackStorm's (st2common/operators.py), with its short aliases,
// so rules written for StackStorm keep their meaning:
//
//	equals eq, nequals neq, iequals ieq         equality; numbers numerically
//	lessthan lt, greaterthan gt                 numbers (numeric strings too), else two strings
//	contains, ncontains, icontains, nicontains  substring of a string, element of a list, key of an object
//	startswith, istartswith, endswith, iendswith
//	regex, iregex                               unanchored search (Python re.search), RE2 syntax
//	matchregex                                  anchored at the start (re.match), . matches newline
//	matchwildcard                               shell glob over the whole value (Python fnmatch)
//	exists, nexists                             present and not null / absent or null
//	inside in, ninside nin                      the value is an element (key, substring) of the pattern
//	timediff_lt td_lt, timediff_gt td_gt        seconds since the value (a time) below / above the pattern
//	search                                      nested criteria over a list's items, any or all
//
// Where StackStorm would raise a type error (regex on a number), the string operators read a
// number or boolean in its JSON form instead; objects, lists and null still fail, with a reason.

// operator is one criteria operator.
type operator struct {
	name string
	// needsPattern: a rule without a pattern for it is rejected at load time.
	needsPattern bool
	// prepare checks a pattern and turns it into what test reads (a compiled regexp); nil
	// means the pattern is used as it is. It runs at load time for a constant pattern and at
	// match time for a templated one.
	prepare func(pattern any) (any, error)
	// onMissing is what happens when the path does not exist.
	onMissing missingRule
	// test decides. why continues the explanation "<path>: <op> <pattern> " of a failure;
	// empty means "but got <value>".
	test func(in input) (ok bool, why string)
}

type missingRule int

const (
	missingFails  missingRule = iota // "… but it is missing"
	missingIsNull                    // a missing value is null: nequals 'x' holds on it, as in StackStorm
	missingTested                    // exists / nexists decide themselves
)

// input is what an operator tests.
type input struct {
	value   any
	present bool
	pattern any // after rendering a templated pattern
	prep    any // prepare(pattern), or pattern
	scope   *Scope
}

// operators maps every operator name, aliases included, to its operator. Built once, never
// changed.
var operators = operatorTable()

func operatorTable() map[string]*operator {
	table := map[string]*operator{}
	for _, op := range []*operator{
		{name: "equals", needsPattern: true, test: func(in input) (bool, string) { return equal(in.value, in.pattern), "" }},
		{name: "nequals", needsPattern: true, onMissing: missingIsNull, test: func(in input) (bool, string) {
			return !equal(in.value, in.pattern), ""
		}},
		{name: "iequals", needsPattern: true, test: stringTest(strings.EqualFold)},
		{name: "lessthan", needsPattern: true, prepare: orderable, test: compareTest(func(c int) bool { return c < 0 })},
		{name: "greaterthan", needsPattern: true, prepare: orderable, test: compareTest(func(c int) bool { return c > 0 })},
		{name: "contains", needsPattern: true, test: containsTest(false, false)},
		{name: "ncontains", needsPattern: true, test: containsTest(false, true)},
		{name: "icontains", needsPattern: true, test: containsTest(true, false)},
		{name: "nicontains", needsPattern: true, test: containsTest(true, true)},
		{name: "startswith", needsPattern: true, test: stringTest(strings.HasPrefix)},
		{name: "istartswith", needsPattern: true, test: stringTest(func(v, p string) bool {
			return strings.HasPrefix(strings.ToLower(v), strings.ToLower(p))
		})},
		{name: "endswith", needsPattern: true, test: stringTest(strings.HasSuffix)},
		{name: "iendswith", needsPattern: true, test: stringTest(func(v, p string) bool {
			return strings.HasSuffix(strings.ToLower(v), strings.ToLower(p))
		})},
		{name: "regex", needsPattern: true, prepare: regexOf("%s"), test: regexTest},
		{name: "iregex", needsPattern: true, prepare: regexOf("(?i)%s"), test: regexTest},
		{name: "matchregex", needsPattern: true, prepare: regexOf(`\A(?s:%s)`), test: regexTest},
		{name: "matchwildcard", needsPattern: true, prepare: wildcard, test: regexTest},
		{name: "exists", onMissing: missingTested, test: func(in input) (bool, string) {
			switch {
			case !in.present:
				return false, "but it is missing"
			case in.value == nil:
				return false, "but it is null"
			}
			return true, ""
		}},
		{name: "nexists", onMissing: missingTested, test: func(in input) (bool, string) {
			return !in.present || in.value == nil, ""
		}},
		{name: "inside", needsPattern: true, prepare: container, test: insideTest(false)},
		{name: "ninside", needsPattern: true, prepare: container, onMissing: missingIsNull, test: insideTest(true)},
		{name: "timediff_lt", needsPattern: true, prepare: seconds, test: timediffTest(func(age, limit float64) bool { return age < limit })},
		{name: "timediff_gt", needsPattern: true, prepare: seconds, test: timediffTest(func(age, limit float64) bool { return age > limit })},
		{name: "search", needsPattern: true, test: searchTest},
	} {
		table[op.name] = op
	}
	for alias, name := range map[string]string{
		"eq": "equals", "neq": "nequals", "ieq": "iequals", "lt": "lessthan", "gt": "greaterthan",
		"in": "inside", "nin": "ninside", "td_lt": "timediff_lt", "td_gt": "timediff_gt",
	} {
		table[alias] = table[name]
	}
	return table
}

// Operators lists every operator name the criteria accept, aliases included, sorted.
func Operators() []string {
	out := make([]string, 0, len(operators))
	for name := range operators {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// stringTest compares the value's text with the pattern's.
func stringTest(f func(value, pattern string) bool) func(input) (bool, string) {
	return func(in input) (bool, string) {
		v, ok := text(in.value)
		if !ok {
			return false, notText(in.value)
		}
		p, ok := text(in.pattern)
		if !ok {
			return false, "but the pattern is " + kindOf(in.pattern) + ", not text"
		}
		return f(v, p), ""
	}
}

// orderable checks that lessthan / greaterthan have something to order by.
func orderable(p any) (any, error) {
	if _, ok := numeric(p); ok {
		return p, nil
	}
	if _, ok := p.(string); ok {
		return p, nil
	}
	return nil, fmt.Errorf("needs a number (or a string) but got %s", kindOf(p))
}

// compareTest orders numerically when both sides are numbers (or numeric strings), else
// compares two strings (ISO dates order that way).
func compareTest(holds func(int) bool) func(input) (bool, string) {
	return func(in input) (bool, string) {
		if p, ok := numeric(in.pattern); ok {
			v, ok := numeric(in.value)
			if !ok {
				return false, fmt.Sprintf("but got %s, which is not a number", show(in.value))
			}
			switch {
			case v < p:
				return holds(-1), ""
			case v > p:
				return holds(1), ""
			}
			return holds(0), ""
		}
		vs, ok1 := in.value.(string)
		ps, ok2 := in.pattern.(string)
		if !ok1 || !ok2 {
			return false, fmt.Sprintf("but got %s, which cannot be ordered against a string", show(in.value))
		}
		return holds(strings.Compare(vs, ps)), ""
	}
}

// containsTest: a string contains a substring, a list an element, an object a key.
func containsTest(fold, negate bool) func(input) (bool, string) {
	return func(in input) (bool, string) {
		var found bool
		switch v := in.value.(type) {
		case []any:
			found = slices.ContainsFunc(v, func(e any) bool { return sameElement(e, in.pattern, fold) })
		case map[string]any:
			k, ok := text(in.pattern)
			if ok {
				for key := range v {
					if key == k || fold && strings.EqualFold(key, k) {
						found = true
						break
					}
				}
			}
		default:
			vs, ok := text(in.value)
			if !ok {
				return false, fmt.Sprintf("but got %s, which is not a string, list or object", show(in.value))
			}
			ps, ok := text(in.pattern)
			if !ok {
				return false, "but the pattern is " + kindOf(in.pattern) + ", not text"
			}
			if fold {
				vs, ps = strings.ToLower(vs), strings.ToLower(ps)
			}
			found = strings.Contains(vs, ps)
		}
		return found != negate, ""
	}
}

func sameElement(e, p any, fold bool) bool {
	if fold {
		es, ok1 := e.(string)
		ps, ok2 := p.(string)
		if ok1 && ok2 {
			return strings.EqualFold(es, ps)
		}
	}
	return equal(e, p)
}

func regexOf(format string) func(any) (any, error) {
	return func(p any) (any, error) {
		s, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("needs a regular expression string but got %s", kindOf(p))
		}
		re, err := regexp.Compile(fmt.Sprintf(format, s))
		if err != nil {
			return nil, fmt.Errorf("bad regular expression (RE2 syntax: no lookaround, no backreferences): %w", err)
		}
		return re, nil
	}
}

func regexTest(in input) (bool, string) {
	v, ok := text(in.value)
	if !ok {
		return false, notText(in.value)
	}
	return in.prep.(*regexp.Regexp).MatchString(v), ""
}

// wildcard translates a shell glob the way Python's fnmatch does: * and ? match any
// character, '/' included; [seq] and [!seq] are sets; the whole value must match.
func wildcard(p any) (any, error) {
	s, ok := p.(string)
	if !ok {
		return nil, fmt.Errorf("needs a wildcard string but got %s", kindOf(p))
	}
	var b strings.Builder
	b.WriteString(`\A(?s:`)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(s) && s[j] == '!' {
				j++
			}
			if j < len(s) && s[j] == ']' {
				j++
			}
			for j < len(s) && s[j] != ']' {
				j++
			}
			if j >= len(s) {
				b.WriteString(`\[`) // no closing bracket: a literal [, as fnmatch reads it
				continue
			}
			set := s[i+1 : j]
			b.WriteByte('[')
			if strings.HasPrefix(set, "!") {
				b.WriteByte('^')
				set = set[1:]
			} else if strings.HasPrefix(set, "^") {
				b.WriteByte('\\')
			}
			b.WriteString(strings.ReplaceAll(set, `\`, `\\`))
			b.WriteByte(']')
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("bad wildcard: %w", err)
	}
	return re, nil
}

// container checks the pattern of inside / ninside.
func container(p any) (any, error) {
	switch p.(type) {
	case []any, map[string]any, string:
		return p, nil
	}
	return nil, fmt.Errorf("needs a list, an object or a string but got %s", kindOf(p))
}

func insideTest(negate bool) func(input) (bool, string) {
	return func(in input) (bool, string) {
		var found bool
		switch p := in.pattern.(type) {
		case []any:
			found = slices.ContainsFunc(p, func(e any) bool { return equal(in.value, e) })
		case map[string]any:
			if k, ok := text(in.value); ok {
				_, found = p[k]
			}
		case string:
			v, ok := text(in.value)
			if !ok {
				return false, notText(in.value)
			}
			found = strings.Contains(p, v)
		}
		return found != negate, ""
	}
}

func seconds(p any) (any, error) {
	f, ok := numeric(p)
	if !ok {
		return nil, fmt.Errorf("needs a number of seconds but got %s", show(p))
	}
	return f, nil
}

// timediffTest measures the seconds from the value (a time) to the scope's now.
func timediffTest(holds func(age, limit float64) bool) func(input) (bool, string) {
	return func(in input) (bool, string) {
		t, ok := parseTime(in.value)
		if !ok {
			return false, fmt.Sprintf("but got %s, which is not a time (RFC 3339 or Unix seconds)", show(in.value))
		}
		age := in.scope.now().Sub(t).Seconds()
		return holds(age, in.prep.(float64)), fmt.Sprintf("but %s was %ss ago", show(in.value), strconv.FormatFloat(age, 'f', -1, 64))
	}
}

// timeLayouts are the forms of a time a payload carries, most specific first; a time without
// a zone is UTC, as StackStorm assumes.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	time.RFC1123Z,
	time.RFC1123,
	"2006-01-02",
}

// parseTime reads a time from a string in one of timeLayouts or from a number of seconds
// since the Unix epoch.
func parseTime(v any) (time.Time, bool) {
	if f, ok := number(v); ok {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func notText(v any) string {
	return fmt.Sprintf("but got %s, which is not text", show(v))
}
