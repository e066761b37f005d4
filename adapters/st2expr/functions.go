package st2expr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"
)

// builtin is a function StackStorm provides to both languages: a Jinja filter (its first
// argument is the filtered value), a Jinja global and a YAQL function.
type builtin struct {
	params []string // parameter names, for Jinja keyword arguments; the first is the input
	min    int      // required arguments
	fn     func(r *run, args []any) (any, error)
}

// st2Functions are StackStorm's filters (st2common/expressions/functions) and Orquesta's
// common functions (json_dump, json_parse), as StackStorm documents them.
var st2Functions = map[string]builtin{
	"from_json_string":           {[]string{"value"}, 1, fromJSONString},
	"json_parse":                 {[]string{"value"}, 1, fromJSONString},
	"from_yaml_string":           {[]string{"value"}, 1, fromYAMLString},
	"to_json_string":             {[]string{"value", "indent", "sort_keys", "separators"}, 1, toJSONString},
	"json_dump":                  {[]string{"value"}, 1, toJSONCompact},
	"to_complex":                 {[]string{"value"}, 1, toJSONCompact},
	"json_escape":                {[]string{"value"}, 1, jsonEscape},
	"to_yaml_string":             {[]string{"value", "indent", "allow_unicode"}, 1, toYAMLString},
	"jsonpath_query":             {[]string{"value", "query"}, 2, jsonpathQuery},
	"regex_match":                {[]string{"value", "pattern", "ignorecase"}, 2, regexMatch},
	"regex_search":               {[]string{"value", "pattern", "ignorecase"}, 2, regexSearch},
	"regex_replace":              {[]string{"value", "pattern", "replacement", "ignorecase"}, 3, regexReplace},
	"regex_substring":            {[]string{"value", "pattern", "result_index", "ignorecase"}, 2, regexSubstring},
	"use_none":                   {[]string{"value"}, 1, func(_ *run, a []any) (any, error) { return a[0], nil }},
	"basename":                   {[]string{"value"}, 1, func(_ *run, a []any) (any, error) { return pyBasename(ToString(a[0])), nil }},
	"dirname":                    {[]string{"value"}, 1, func(_ *run, a []any) (any, error) { return pyDirname(ToString(a[0])), nil }},
	"to_human_time_from_seconds": {[]string{"value"}, 1, humanTime},
	"version_compare":            {[]string{"value", "pattern"}, 2, versionCmp(func(c int) any { return int64(c) })},
	"version_more_than":          {[]string{"value", "pattern"}, 2, versionCmp(func(c int) any { return c == 1 })},
	"version_less_than":          {[]string{"value", "pattern"}, 2, versionCmp(func(c int) any { return c == -1 })},
	"version_equal":              {[]string{"value", "pattern"}, 2, versionCmp(func(c int) any { return c == 0 })},
	"version_match":              {[]string{"value", "pattern"}, 2, versionMatch},
	"version_bump_major":         {[]string{"value"}, 1, versionBump(func(v semver.Version) semver.Version { return v.IncMajor() })},
	"version_bump_minor":         {[]string{"value"}, 1, versionBump(func(v semver.Version) semver.Version { return v.IncMinor() })},
	"version_bump_patch":         {[]string{"value"}, 1, versionBump(func(v semver.Version) semver.Version { return v.IncPatch() })},
	"version_strip_patch":        {[]string{"value"}, 1, versionStripPatch},
}

// arg returns args[i] or def when the caller left it out.
func arg(args []any, i int, def any) any {
	if i < len(args) && args[i] != nil {
		return args[i]
	}
	return def
}

func fromJSONString(_ *run, args []any) (any, error) {
	var out any
	dec := json.NewDecoder(strings.NewReader(ToString(args[0])))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("from_json_string: %w", err)
	}
	return normalize(out), nil
}

func fromYAMLString(_ *run, args []any) (any, error) {
	var out any
	if err := yaml.Unmarshal([]byte(ToString(args[0])), &out); err != nil {
		return nil, fmt.Errorf("from_yaml_string: %w", err)
	}
	return normalize(out), nil
}

func toJSONCompact(_ *run, args []any) (any, error) {
	return pyJSON(args[0], -1, ", ", ": ")
}

func toJSONString(_ *run, args []any) (any, error) {
	indent := -1
	if v := arg(args, 1, nil); v != nil {
		n, err := toInt(v)
		if err != nil || n < 0 || n > 64 {
			return nil, fmt.Errorf("to_json_string: indent must be a number from 0 to 64")
		}
		indent = int(n)
	}
	itemSep, keySep := ",", ": "
	if indent < 0 {
		itemSep = ","
	}
	if seps, ok := arg(args, 3, nil).([]any); ok && len(seps) == 2 {
		itemSep, keySep = ToString(seps[0]), ToString(seps[1])
	}
	return pyJSON(args[0], indent, itemSep, keySep)
}

// pyJSON writes v as Python's json.dumps does with the given separators: keys sorted (Go
// maps keep no order), non-ASCII escaped (ensure_ascii), no HTML escaping.
func pyJSON(v any, indent int, itemSep, keySep string) (string, error) {
	var b strings.Builder
	if err := writePyJSON(&b, normalize(v), indent, 0, itemSep, keySep); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writePyJSON(b *strings.Builder, v any, indent, depth int, itemSep, keySep string) error {
	if b.Len() > maxStringBytes {
		return checkString(b.Len())
	}
	newline := func(d int) {
		if indent >= 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	sep := itemSep
	if indent >= 0 {
		sep = strings.TrimRight(itemSep, " ")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString(map[bool]string{true: "NaN", false: "Infinity"}[math.IsNaN(x)])
			return nil
		}
		b.WriteString(formatFloat(x))
	case string:
		b.WriteString(asciiJSONString(x))
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			if err := writePyJSON(b, e, indent, depth+1, itemSep, keySep); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, k := range sortedMapKeys(x) {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			b.WriteString(asciiJSONString(k))
			b.WriteString(keySep)
			if err := writePyJSON(b, x[k], indent, depth+1, itemSep, keySep); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte('}')
	default:
		b.WriteString(asciiJSONString(fmt.Sprint(x)))
	}
	return nil
}

// asciiJSONString is a JSON string literal with every non-ASCII rune escaped, as Python's
// json.dumps writes it.
func asciiJSONString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := strings.TrimSuffix(buf.String(), "\n")
	var b strings.Builder
	for _, r := range out {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func jsonEscape(_ *run, args []any) (any, error) {
	s, err := pyJSON(args[0], -1, ", ", ": ")
	if err != nil {
		return nil, err
	}
	return strings.Trim(s, `"`), nil
}

func toYAMLString(_ *run, args []any) (any, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // PyYAML's
	if v := arg(args, 1, nil); v != nil {
		n, err := toInt(v)
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("to_yaml_string: indent must be a number from 1 to 64")
		}
		enc.SetIndent(int(n))
	}
	if err := enc.Encode(normalize(args[0])); err != nil {
		return nil, fmt.Errorf("to_yaml_string: %w", err)
	}
	return buf.String(), nil
}

// compileRegex compiles a Python pattern with Go's RE2 (no backreferences in patterns, no
// lookaround: a pattern using them is refused with RE2's reason).
func compileRegex(name string, pattern any, ignorecase any) (*regexp.Regexp, error) {
	p := ToString(pattern)
	if truthy(ignorecase) {
		p = "(?i)" + p
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: pattern %q: %w", name, ToString(pattern), err)
	}
	return re, nil
}

func regexMatch(_ *run, args []any) (any, error) {
	// Python's re.match: a match that starts at the beginning of the string.
	re, err := compileRegex("regex_match", `\A(?:`+ToString(args[1])+`)`, arg(args, 2, false))
	if err != nil {
		return nil, err
	}
	return re.MatchString(ToString(args[0])), nil
}

func regexSearch(_ *run, args []any) (any, error) {
	re, err := compileRegex("regex_search", args[1], arg(args, 2, false))
	if err != nil {
		return nil, err
	}
	return re.MatchString(ToString(args[0])), nil
}

// pyBackref turns Python's \1 and \g<name> replacement syntax into Go's ${1} and ${name}.
var pyBackref = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

func regexReplace(_ *run, args []any) (any, error) {
	re, err := compileRegex("regex_replace", args[1], arg(args, 3, false))
	if err != nil {
		return nil, err
	}
	repl := strings.ReplaceAll(ToString(args[2]), "$", "$$")
	repl = pyBackref.ReplaceAllString(repl, "${$1$2}")
	s := ToString(args[0])
	if n := len(re.FindAllStringIndex(s, -1)); n > 0 {
		if err := checkString(len(s) + n*len(repl)); err != nil {
			return nil, err
		}
	}
	return re.ReplaceAllString(s, repl), nil
}

func regexSubstring(_ *run, args []any) (any, error) {
	re, err := compileRegex("regex_substring", args[1], arg(args, 3, false))
	if err != nil {
		return nil, err
	}
	idx, err := toInt(arg(args, 2, int64(0)))
	if err != nil {
		return nil, fmt.Errorf("regex_substring: result_index: %w", err)
	}
	// Python's re.findall: the whole match without groups, the first group with one, a
	// tuple (here a list) with more.
	var found []any
	for _, m := range re.FindAllStringSubmatch(ToString(args[0]), -1) {
		switch len(m) {
		case 1:
			found = append(found, m[0])
		case 2:
			found = append(found, m[1])
		default:
			groups := make([]any, len(m)-1)
			for i, g := range m[1:] {
				groups[i] = g
			}
			found = append(found, groups)
		}
	}
	if idx < 0 {
		idx += int64(len(found))
	}
	if idx < 0 || idx >= int64(len(found)) {
		return nil, fmt.Errorf("regex_substring: pattern %q has no match %d in %q (list index out of range)", ToString(args[1]), idx, clip(ToString(args[0])))
	}
	return found[idx], nil
}

// pyBasename is Python's os.path.basename: what follows the last slash.
func pyBasename(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// pyDirname is Python's os.path.dirname: what precedes the last slash, trailing slashes
// removed unless it is all slashes.
func pyDirname(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	head := p[:i+1]
	if trimmed := strings.TrimRight(head, "/"); trimmed != "" {
		return trimmed
	}
	return head
}

func humanTime(_ *run, args []any) (any, error) {
	var secs float64
	switch x := normalize(args[0]).(type) {
	case int64:
		secs = float64(x)
	case float64:
		secs = x
	default:
		return nil, fmt.Errorf("to_human_time_from_seconds: %v is not a number of seconds", ToString(args[0]))
	}
	if secs == 0 {
		return "0s", nil
	}
	if secs < 1 {
		return ToString(args[0]) + "\u03bcs", nil
	}
	s := int64(math.Round(secs))
	// Python's datetime arithmetic from 0001-01-01: years of 365 days (no leap year until 4),
	// then days, hours, minutes, seconds.
	parts := []int64{s / (365 * 86400), s % (365 * 86400) / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60}
	units := []string{"y", "d", "h", "m", "s"}
	first := 0
	for first < len(parts)-1 && parts[first] == 0 {
		first++
	}
	var b strings.Builder
	for i := first; i < len(parts); i++ {
		fmt.Fprintf(&b, "%d%s", parts[i], units[i+len(units)-len(parts)])
	}
	return b.String(), nil
}

func parseVersion(name string, v any) (*semver.Version, error) {
	ver, err := semver.StrictNewVersion(ToString(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a semantic version (major.minor.patch): %w", name, ToString(v), err)
	}
	return ver, nil
}

func versionCmp(result func(int) any) func(*run, []any) (any, error) {
	return func(_ *run, args []any) (any, error) {
		a, err := parseVersion("version", args[0])
		if err != nil {
			return nil, err
		}
		b, err := parseVersion("version", args[1])
		if err != nil {
			return nil, err
		}
		return result(a.Compare(b)), nil
	}
}

func versionMatch(_ *run, args []any) (any, error) {
	v, err := parseVersion("version_match", args[0])
	if err != nil {
		return nil, err
	}
	c, err := semver.NewConstraint(ToString(args[1]))
	if err != nil {
		return nil, fmt.Errorf("version_match: %q: %w", ToString(args[1]), err)
	}
	return c.Check(v), nil
}

func versionBump(bump func(semver.Version) semver.Version) func(*run, []any) (any, error) {
	return func(_ *run, args []any) (any, error) {
		v, err := parseVersion("version_bump", args[0])
		if err != nil {
			return nil, err
		}
		return bump(*v).String(), nil
	}
}

func versionStripPatch(_ *run, args []any) (any, error) {
	v, err := parseVersion("version_strip_patch", args[0])
	if err != nil {
		return nil, err
	}
	return fmt.Sprintf("%d.%d", v.Major(), v.Minor()), nil
}

// toInt converts a number or a numeric string to an int64.
func toInt(v any) (int64, error) {
	switch x := normalize(v).(type) {
	case int64:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<62 {
			return 0, fmt.Errorf("%v is out of range for an integer", x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", x)
		}
		return i, nil
	}
	return 0, fmt.Errorf("%s is not an integer", ToString(v))
}

// jsonpathQuery is StackStorm's jsonpath_query for the forms its documentation shows: dotted
// fields, [n], [*], [a:b] slices, * for every field, an optional leading $. No match is None.
func jsonpathQuery(r *run, args []any) (any, error) {
	steps, err := parseJSONPath(ToString(args[1]))
	if err != nil {
		return nil, err
	}
	cur := []any{normalize(args[0])}
	for _, s := range steps {
		var next []any
		for _, v := range cur {
			if err := r.step(1); err != nil {
				return nil, err
			}
			next = append(next, s.apply(v)...)
		}
		if err := checkList(len(next)); err != nil {
			return nil, err
		}
		cur = next
	}
	if len(cur) == 0 {
		return nil, nil
	}
	return cur, nil
}

type jsonPathStep struct {
	field    string // "" for an index step; "*" for every field
	all      bool   // [*]
	slice    bool
	from, to int
	hasFrom  bool
	hasTo    bool
}

var jsonPathToken = regexp.MustCompile(`^(?:\.?([A-Za-z_][\w-]*|\*)|\[(\*|-?\d+|-?\d*:-?\d*)\])`)

func parseJSONPath(q string) ([]jsonPathStep, error) {
	rest := strings.TrimPrefix(strings.TrimSpace(q), "$")
	var steps []jsonPathStep
	for rest != "" {
		m := jsonPathToken.FindStringSubmatch(rest)
		if m == nil {
			return nil, fmt.Errorf("jsonpath_query: %q: cannot read %q (supported: fields, [n], [*], [a:b], *)", q, rest)
		}
		rest = rest[len(m[0]):]
		switch {
		case m[1] != "":
			steps = append(steps, jsonPathStep{field: m[1]})
		case m[2] == "*":
			steps = append(steps, jsonPathStep{all: true})
		case strings.Contains(m[2], ":"):
			a, b, _ := strings.Cut(m[2], ":")
			s := jsonPathStep{slice: true}
			if a != "" {
				s.from, _ = strconv.Atoi(a)
				s.hasFrom = true
			}
			if b != "" {
				s.to, _ = strconv.Atoi(b)
				s.hasTo = true
			}
			steps = append(steps, s)
		default:
			n, _ := strconv.Atoi(m[2])
			steps = append(steps, jsonPathStep{from: n})
		}
	}
	return steps, nil
}

func (s jsonPathStep) apply(v any) []any {
	switch {
	case s.field == "*":
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		out := make([]any, 0, len(m))
		for _, k := range sortedMapKeys(m) {
			out = append(out, m[k])
		}
		return out
	case s.field != "":
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if e, ok := m[s.field]; ok {
			return []any{e}
		}
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	switch {
	case s.all:
		return l
	case s.slice:
		from, to := 0, len(l)
		if s.hasFrom {
			from = pyIndex(s.from, len(l))
		}
		if s.hasTo {
			to = pyIndex(s.to, len(l))
		}
		if from >= to {
			return nil
		}
		return l[from:to]
	default:
		i := s.from
		if i < 0 {
			i += len(l)
		}
		if i < 0 || i >= len(l) {
			return nil
		}
		return []any{l[i]}
	}
}

// pyIndex clamps a Python slice bound into [0, n].
func pyIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}
