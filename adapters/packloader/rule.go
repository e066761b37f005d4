package packloader

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

// Operators is the criteria operator set a rule may use (StackStorm's). The rule matcher must
// implement exactly these; the loader rejects any other name so a typo fails at load, not as
// a rule that never matches.
var Operators = []string{
	"equals", "nequals", "iequals", "lessthan", "greaterthan",
	"contains", "ncontains", "icontains", "nicontains",
	"startswith", "istartswith", "endswith", "iendswith",
	"regex", "iregex", "matchregex", "matchwildcard",
	"exists", "nexists", "inside", "ninside",
	"timediff_lt", "timediff_gt", "search",
	// StackStorm's short aliases, which its packs use as often as the long names.
	"eq", "neq", "ieq", "lt", "gt", "in", "nin", "td_lt", "td_gt",
}

// ruleSource keeps what resolve needs to check a rule against its trigger and action.
type ruleSource struct {
	f       fileProblems
	root    *yaml.Node
	trigger *yaml.Node // nil when absent or not a ref: then not resolved
	action  *yaml.Node
	params  *yaml.Node // the parameters mapping, nil when absent
	tparams *yaml.Node // the trigger_params mapping, nil when absent
	paths   []entry    // the criteria's keys
	url     *yaml.Node // a StackStorm webhook's url, checked against the triggers' refs
	// tfield and pfield name the trigger's and the action's parameters in messages when the
	// file does not call them trigger_params and parameters (StackStorm's shape).
	tfield, pfield string
}

func (l *loader) readRule(f fileProblems, root *yaml.Node) {
	if l.st2 {
		l.readSt2Rule(f, root)
		return
	}
	before := len(l.errs)
	defer func() {
		// Templates and expressions are compiled by the rule evaluator, the code that runs
		// them, so what loads is what matches. Only a rule file that is otherwise sound is
		// compiled: a pattern already reported (a bad regex) is not reported twice.
		if len(l.errs) == before && len(l.p.Rules) > 0 {
			f.ruleeval(root, l.p.Rules[len(l.p.Rules)-1], attunePath)
		}
	}()
	o := f.object(root, "", "name", "description", "enabled", "trigger", "trigger_params", "criteria", "action", "parameters")
	r := pack.Rule{File: strings.TrimPrefix(f.file, l.dir+"/")}
	r.Name, r.Ref = l.name(f, o, pack.KindRule)
	r.Description = o.str("description")
	r.Enabled = o.boolean("enabled", true)
	src := ruleSource{f: f, root: root}
	if r.Trigger = o.needStr("trigger"); r.Trigger != "" && f.ref(o.get("trigger"), "trigger", r.Trigger) {
		src.trigger = o.get("trigger")
	}
	if r.Action = o.needStr("action"); r.Action != "" && f.ref(o.get("action"), "action", r.Action) {
		src.action = o.get("action")
	}
	r.TriggerParams, src.tparams = f.mapping(o, "trigger_params")
	r.Parameters, src.params = f.mapping(o, "parameters")
	r.Criteria, r.Expression, src.paths = f.criteria(o.get("criteria"))
	l.p.Rules = append(l.p.Rules, r)
	l.rules = append(l.rules, src)
}

// mapping reads a free-form mapping field as JSON, with its node.
func (f fileProblems) mapping(o object, key string) ([]byte, *yaml.Node) {
	n := o.get(key)
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, o.field(key), "want a mapping, got %s", describe(n))
		return nil, nil
	}
	v, ok := f.value(n, o.field(key))
	if !ok {
		return nil, nil
	}
	return toJSON(v), n
}

// criteria reads either tests on event paths or one boolean expression.
func (f fileProblems) criteria(n *yaml.Node) (map[string]pack.Criterion, string, []entry) {
	if n == nil {
		return nil, "", nil
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, "criteria", "want a mapping of event path to test, or {expression: ...}, got %s", describe(n))
		return nil, "", nil
	}
	entries := f.entries(n, "criteria")
	if i := slices.IndexFunc(entries, func(e entry) bool { return e.key == "expression" && e.v.Kind == yaml.ScalarNode }); i >= 0 {
		if len(entries) > 1 {
			f.at(n, "criteria", "an expression stands alone: write every test into it, or use no expression")
			return nil, "", nil
		}
		expr := f.str(entries[i].v, "criteria.expression")
		if strings.TrimSpace(expr) == "" {
			f.at(entries[i].v, "criteria.expression", "want a non-empty boolean expression")
		}
		return nil, expr, nil
	}
	out := map[string]pack.Criterion{}
	var paths []entry
	for _, e := range entries {
		field := join("criteria", e.key)
		if e.key == "" {
			f.at(e.k, "criteria", "a test needs an event path")
			continue
		}
		o := f.object(e.v, field, "type", "pattern")
		if o.n == nil {
			if isNull(e.v) {
				f.at(e.k, field, "want a test like {type: equals, pattern: x}")
			}
			continue
		}
		c, ok := f.criterion(o)
		if !ok {
			continue
		}
		out[e.key] = c
		paths = append(paths, e)
	}
	return out, "", paths
}

func (f fileProblems) criterion(o object) (pack.Criterion, bool) {
	op := o.needStr("type")
	if op == "" {
		return pack.Criterion{}, false
	}
	if !slices.Contains(Operators, op) {
		f.at(o.get("type"), o.field("type"), "unknown operator %q%s", op, suggest(op, Operators))
		return pack.Criterion{}, false
	}
	c := pack.Criterion{Type: op}
	pat := o.get("pattern")
	if op == "exists" || op == "nexists" {
		if pat != nil {
			f.at(pat, o.field("pattern"), "%s takes no pattern", op)
			return c, false
		}
		return c, true
	}
	if pat = o.need("pattern"); pat == nil {
		return c, false
	}
	v, ok := f.value(pat, o.field("pattern"))
	if !ok {
		return c, false
	}
	switch op {
	case "regex", "iregex", "matchregex":
		s, isStr := v.(string)
		if !isStr {
			f.at(pat, o.field("pattern"), "want a regular expression, got %s", describe(pat))
			return c, false
		}
		if _, err := regexp.Compile(s); err != nil && !hasTemplate(s) {
			f.at(pat, o.field("pattern"), "bad regular expression: %v", err)
			return c, false
		}
	case "timediff_lt", "timediff_gt":
		if _, isNum := asFloat(v); !isNum && !hasTemplate(v) {
			f.at(pat, o.field("pattern"), "want a number of seconds, got %s", describe(pat))
			return c, false
		}
	}
	c.Pattern = toJSON(v)
	return c, true
}

// ruleeval reports what the rule evaluator refuses in r (a template or an expression that
// does not compile, a malformed search), each at the line of the field it names; inFile maps
// a problem's path in the rule onto the path of that field in the file.
func (f fileProblems) ruleeval(root *yaml.Node, r pack.Rule, inFile func([]string) []string) {
	var re *ruleeval.RuleError
	if err := ruleeval.CheckRule(r); !errors.As(err, &re) {
		if err != nil {
			f.at(root, "", "%v", err)
		}
		return
	}
	for _, p := range re.Problems {
		path := inFile(slices.Clone(p.Path))
		field := (&ruleeval.Problem{Path: path}).Where()
		f.at(walk(root, path), field, "%s", strings.TrimPrefix(p.Error(), p.Where()+": "))
	}
}

// attunePath is where a rule's field is in an Attune rule file.
func attunePath(path []string) []string {
	if len(path) > 0 && path[0] == "expression" {
		return append([]string{"criteria"}, path...) // written criteria: {expression: ...}
	}
	return path
}

// walk follows path (mapping keys, list indexes) from n as far as it leads and returns the
// deepest node found, for its line.
func walk(n *yaml.Node, path []string) *yaml.Node {
	for _, seg := range path {
		n = resolve(n)
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}
