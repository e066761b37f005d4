package ruleeval_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

// problems runs CheckRule and returns its problems as "where | line:col | message" lines.
func problems(t *testing.T, r pack.Rule) []string {
	t.Helper()
	r.Ref = "examples.bad"
	err := ruleeval.CheckRule(r)
	if err == nil {
		t.Fatal("CheckRule accepted the rule")
	}
	var re *ruleeval.RuleError
	if !errors.As(err, &re) || re.Rule != "examples.bad" {
		t.Fatalf("%T %v is not a *RuleError of examples.bad", err, err)
	}
	var out []string
	for _, p := range re.Problems {
		line := p.Where() + " | " + p.Message
		if p.Line > 0 {
			line = p.Where() + " | " + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column) + " | " + p.Message
		}
		out = append(out, line)
	}
	return out
}

func TestCheckRuleRejectsBadCriteria(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, criteria, want string
	}{
		{"unknown operator", `{"payload.v": {"type": "equal", "pattern": "x"}}`,
			`criteria.payload.v.type | unknown operator "equal" (want one of contains, endswith, eq, equals, exists, greaterthan, gt, icontains, iendswith, ieq, iequals, in, inside, iregex, istartswith, lessthan, lt, matchregex, matchwildcard, ncontains, neq, nequals, nexists, nicontains, nin, ninside, regex, search, startswith, td_gt, td_lt, timediff_gt, timediff_lt)`},
		{"no pattern", `{"payload.v": {"type": "equals"}}`, `criteria.payload.v | equals needs a pattern`},
		{"lookahead is not RE2", `{"payload.v": {"type": "regex", "pattern": "a(?=b)"}}`,
			"criteria.payload.v.pattern | regex: bad regular expression (RE2 syntax: no lookaround, no backreferences): error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
		{"a list to order by", `{"payload.v": {"type": "lessthan", "pattern": [1]}}`,
			`criteria.payload.v.pattern | lessthan: needs a number (or a string) but got a list`},
		{"seconds that are not a number", `{"payload.v": {"type": "timediff_lt", "pattern": "soon"}}`,
			`criteria.payload.v.pattern | timediff_lt: needs a number of seconds but got 'soon'`},
		{"inside a number", `{"payload.v": {"type": "inside", "pattern": 3}}`,
			`criteria.payload.v.pattern | inside: needs a list, an object or a string but got a number`},
		{"StackStorm's trigger.x", `{"trigger.level": {"type": "exists"}}`,
			`criteria.trigger.level | "trigger.level": payload fields are payload.level (trigger is the trigger's ref)`},
		{"a path outside the event", `{"level": {"type": "exists"}}`,
			`criteria.level | "level": paths start with one of the event's fields id, trigger, source, payload, fired_at`},
		{"an empty path segment", `{"payload..v": {"type": "exists"}}`, `criteria.payload..v | "payload..v" is not a path: empty segment`},
		{"search without condition", `{"payload.l": {"type": "search", "pattern": {"criteria": {"item": {"type": "exists"}}}}}`,
			`criteria.payload.l.pattern.condition | search condition must be any or all, got null`},
		{"search with a bad nested criterion", `{"payload.l": {"type": "search", "pattern": {"condition": "all",
			"criteria": {"item.x": {"type": "matchwildcard", "pattern": 1}}}}}`,
			`criteria.payload.l.pattern.criteria.item.x.pattern | matchwildcard: needs a wildcard string but got a number`},
		{"search paths start at item", `{"payload.l": {"type": "search", "pattern": {"condition": "any",
			"criteria": {"payload.x": {"type": "exists"}}}}}`,
			`criteria.payload.l.pattern.criteria.payload.x | "payload.x": paths inside search start with item (item.field_name)`},
		{"a pattern template that does not compile", `{"payload.v": {"type": "gt", "pattern": "{{ config. }}"}}`,
			`criteria.payload.v.pattern | 1:10 | unexpected end of expression`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, pack.Rule{Criteria: criteria(t, tc.criteria)})
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("problems\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func TestCheckRuleRejectsBadExpressions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expression, want string
	}{
		{"a syntax error, at its column", `{{ event.payload.count > }}`, `expression | 1:24 | unexpected token EOF`},
		{"an unknown name", `{{ evnt.payload.x == 1 }}`, `expression | 1:4 | unknown name evnt`},
		{"without the wrapper", `event.payload.count >> 1`, `expression | 1:22 | unexpected token Operator(">")`},
		{"not a boolean", `{{ 1 + 1 }}`, `expression | the expression gives int, not true or false`},
		{"text around it", `count {{ event.payload.count > 1 }}`, `expression | an expression is one {{ boolean expression }}, with no text around it`},
		{"two templates", `{{ true }} {{ false }}`, `expression | an expression is one {{ boolean expression }}, with no text around it`},
		{"unclosed", `{{ event.payload.count > 1`, `expression | 1:1 | {{ is never closed by }}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, pack.Rule{Expression: tc.expression})
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("problems\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// Every bad template of a rule is listed, each by its parameter path and position, so the
// loader can point at each one and the author fixes them in one pass.
func TestCheckRuleListsEveryBadTemplate(t *testing.T) {
	t.Parallel()
	r := pack.Rule{
		Ref:      "examples.bad",
		Criteria: criteria(t, `{"payload.v": {"type": "exists"}}`),
		Parameters: []byte(`{
			"message": "hi {{ event.payload.msg + }}",
			"good": "{{ event.payload.msg }}",
			"list": ["ok", "{{ nope }}"],
			"headers": {"X-Token": "{% if x %}y{% endif %}"},
			"open": "{{ event.payload",
			"multi": "line one\nline two {{ evnt }}",
			"empty": "{{ }}"
		}`),
	}
	got := problems(t, r)
	want := []string{
		`parameters.empty | 1:1 | empty template {{ }}`,
		`parameters.headers.X-Token | 1:1 | {% %} blocks are not supported: write one {{ expression }}`,
		`parameters.list[1] | 1:4 | unknown name nope`,
		`parameters.message | 1:25 | unexpected token EOF`,
		`parameters.multi | 2:13 | unknown name evnt`,
		`parameters.open | 1:1 | {{ is never closed by }}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	err := ruleeval.CheckRule(r)
	if !strings.HasPrefix(err.Error(), "rule examples.bad: 6 problems:\n  parameters.empty: \"{{ }}\": empty template {{ }} (at 1:1)\n") {
		t.Fatalf("message:\n%v", err)
	}
}

func TestCheckRuleRejectsTheRestOfARule(t *testing.T) {
	t.Parallel()
	got := problems(t, pack.Rule{
		Criteria:   criteria(t, `{"payload.v": {"type": "exists"}}`),
		Expression: "{{ true }}",
		Parameters: []byte(`["not", "an", "object"]`),
	})
	want := []string{
		`expression | a rule has criteria or an expression, not both`,
		`parameters | parameters must be an object`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems\n got: %q\nwant: %q", got, want)
	}
}

func TestCheckRuleAcceptsAGoodRule(t *testing.T) {
	t.Parallel()
	err := ruleeval.CheckRule(pack.Rule{
		Ref: "examples.on_error_ping",
		Criteria: criteria(t, `{"payload.level": {"type": "equals", "pattern": "error"},
			"payload.msg": {"type": "regex", "pattern": "^disk"}}`),
		Parameters: []byte(`{"message": "{{ event.payload.msg }} (via {{ config.greeting }})"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
}
