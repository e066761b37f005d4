package ruleeval_test

import (
	"fmt"
	"testing"

	"github.com/attune-go/attune/domain/pack"
)

// Each operator, on the path payload.v, matching and not; a non-match states its reason the
// way `attune rule test` prints it.
func TestOperators(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		op, pattern, payload string
		reason               string // empty: the criterion holds
	}{
		{"equals", `"error"`, `{"v": "error"}`, ""},
		{"equals", `"error"`, `{"v": "info"}`, `payload.v: equals 'error' but got 'info'`},
		{"equals", `"error"`, `{}`, `payload.v: equals 'error' but it is missing`},
		{"equals", `42`, `{"v": 42.0}`, ""},
		{"equals", `42`, `{"v": 4.2e1}`, ""},
		{"equals", `42`, `{"v": "42"}`, ""},
		{"equals", `42`, `{"v": 43}`, `payload.v: equals 42 but got 43`},
		{"equals", `"042"`, `{"v": "42"}`, `payload.v: equals '042' but got '42'`},
		{"equals", `{"a": [1, 2]}`, `{"v": {"a": [1.0, 2]}}`, ""},
		{"equals", `true`, `{"v": "true"}`, `payload.v: equals true but got 'true'`},
		{"equals", `null`, `{"v": null}`, ""},
		{"eq", `"error"`, `{"v": "error"}`, ""},
		{"nequals", `"debug"`, `{"v": "info"}`, ""},
		{"nequals", `"info"`, `{"v": "info"}`, `payload.v: nequals 'info' but got 'info'`},
		{"nequals", `"info"`, `{}`, ""}, // StackStorm: a missing value is None, which is not 'info'
		{"neq", `1`, `{"v": 1.0}`, `payload.v: neq 1 but got 1`},
		{"iequals", `"ERROR"`, `{"v": "error"}`, ""},
		{"iequals", `"error"`, `{"v": "warn"}`, `payload.v: iequals 'error' but got 'warn'`},
		{"ieq", `"Error"`, `{"v": "eRROR"}`, ""},
		{"lessthan", `10`, `{"v": 3}`, ""},
		{"lessthan", `10`, `{"v": "3"}`, ""},
		{"lessthan", `10`, `{"v": 12}`, `payload.v: lessthan 10 but got 12`},
		{"lessthan", `10`, `{"v": 10.0}`, `payload.v: lessthan 10 but got 10`},
		{"lessthan", `10`, `{"v": "abc"}`, `payload.v: lessthan 10 but got 'abc', which is not a number`},
		{"lessthan", `"2026-02-01"`, `{"v": "2026-01-31"}`, ""},
		{"lt", `1e3`, `{"v": 999.5}`, ""},
		{"greaterthan", `3`, `{"v": 4.5}`, ""},
		{"greaterthan", `3`, `{"v": 3}`, `payload.v: greaterthan 3 but got 3`},
		{"greaterthan", `3`, `{"v": [4]}`, `payload.v: greaterthan 3 but got [4], which is not a number`},
		{"gt", `-1`, `{"v": 0}`, ""},
		{"contains", `"disk"`, `{"v": "disk full"}`, ""},
		{"contains", `"disk"`, `{"v": "cpu hot"}`, `payload.v: contains 'disk' but got 'cpu hot'`},
		{"contains", `"b"`, `{"v": ["a", "b"]}`, ""},
		{"contains", `2`, `{"v": [1, 2.0]}`, ""},
		{"contains", `"c"`, `{"v": ["a", "b"]}`, `payload.v: contains 'c' but got ["a","b"]`},
		{"contains", `"k"`, `{"v": {"k": 1}}`, ""},
		{"contains", `"04"`, `{"v": 404}`, ""},
		{"contains", `"x"`, `{"v": null}`, `payload.v: contains 'x' but got null, which is not a string, list or object`},
		{"ncontains", `"x"`, `{"v": "abc"}`, ""},
		{"ncontains", `"b"`, `{"v": "abc"}`, `payload.v: ncontains 'b' but got 'abc'`},
		{"ncontains", `"b"`, `{"v": ["a", "b"]}`, `payload.v: ncontains 'b' but got ["a","b"]`},
		{"icontains", `"DISK"`, `{"v": "Disk full"}`, ""},
		{"icontains", `"B"`, `{"v": ["a", "b"]}`, ""},
		{"icontains", `"disk"`, `{"v": "cpu"}`, `payload.v: icontains 'disk' but got 'cpu'`},
		{"nicontains", `"DISK"`, `{"v": "cpu"}`, ""},
		{"nicontains", `"DISK"`, `{"v": "a disk"}`, `payload.v: nicontains 'DISK' but got 'a disk'`},
		{"startswith", `"web-"`, `{"v": "web-01"}`, ""},
		{"startswith", `"web-"`, `{"v": "WEB-01"}`, `payload.v: startswith 'web-' but got 'WEB-01'`},
		{"startswith", `"4"`, `{"v": 404}`, ""},
		{"istartswith", `"web-"`, `{"v": "WEB-01"}`, ""},
		{"istartswith", `"db"`, `{"v": "web"}`, `payload.v: istartswith 'db' but got 'web'`},
		{"endswith", `".log"`, `{"v": "app.log"}`, ""},
		{"endswith", `".log"`, `{"v": "app.LOG"}`, `payload.v: endswith '.log' but got 'app.LOG'`},
		{"endswith", `"x"`, `{"v": {"x": 1}}`, `payload.v: endswith 'x' but got {"x":1}, which is not text`},
		{"iendswith", `".log"`, `{"v": "app.LOG"}`, ""},
		{"iendswith", `".log"`, `{"v": "app.txt"}`, `payload.v: iendswith '.log' but got 'app.txt'`},
		{"regex", `"^disk"`, `{"v": "disk full"}`, ""},
		{"regex", `"full"`, `{"v": "disk full"}`, ""}, // unanchored: re.search, as StackStorm's regex
		{"regex", `"^disk"`, `{"v": "cpu hot"}`, `payload.v: regex '^disk' but got 'cpu hot'`},
		{"regex", `"^\\d+$"`, `{"v": 404}`, ""},
		{"regex", `"a"`, `{"v": ["a"]}`, `payload.v: regex 'a' but got ["a"], which is not text`},
		{"iregex", `"^DISK"`, `{"v": "disk"}`, ""},
		{"iregex", `"^disk"`, `{"v": "a disk"}`, `payload.v: iregex '^disk' but got 'a disk'`},
		{"matchregex", `"disk"`, `{"v": "disk full"}`, ""},
		{"matchregex", `"full"`, `{"v": "disk full"}`, `payload.v: matchregex 'full' but got 'disk full'`}, // anchored: re.match
		{"matchregex", `"a.b"`, `{"v": "a\nb"}`, ""},                                                       // re.DOTALL
		{"matchwildcard", `"web-*"`, `{"v": "web-01"}`, ""},
		{"matchwildcard", `"web-*"`, `{"v": "db-01"}`, `payload.v: matchwildcard 'web-*' but got 'db-01'`},
		{"matchwildcard", `"*.log"`, `{"v": "var/log/app.log"}`, ""}, // fnmatch's * crosses '/'
		{"matchwildcard", `"web-?"`, `{"v": "web-10"}`, `payload.v: matchwildcard 'web-?' but got 'web-10'`},
		{"matchwildcard", `"[!a]*"`, `{"v": "bcd"}`, ""},
		{"matchwildcard", `"[!a]*"`, `{"v": "abc"}`, `payload.v: matchwildcard '[!a]*' but got 'abc'`},
		{"matchwildcard", `"a.c"`, `{"v": "abc"}`, `payload.v: matchwildcard 'a.c' but got 'abc'`}, // '.' is literal
		{"matchwildcard", `"[x"`, `{"v": "[x"}`, ""},
		{"exists", ``, `{"v": "x"}`, ""},
		{"exists", ``, `{"v": 0}`, ""},
		{"exists", ``, `{}`, `payload.v: exists but it is missing`},
		{"exists", ``, `{"v": null}`, `payload.v: exists but it is null`},
		{"nexists", ``, `{}`, ""},
		{"nexists", ``, `{"v": null}`, ""},
		{"nexists", ``, `{"v": "x"}`, `payload.v: nexists but got 'x'`},
		{"inside", `["a", "b"]`, `{"v": "b"}`, ""},
		{"inside", `["a", "b"]`, `{"v": "c"}`, `payload.v: inside ["a","b"] but got 'c'`},
		{"inside", `[1, 2]`, `{"v": 2.0}`, ""},
		{"inside", `"abcdef"`, `{"v": "cd"}`, ""},
		{"inside", `{"eu": 1}`, `{"v": "eu"}`, ""},
		{"inside", `["a"]`, `{}`, `payload.v: inside ["a"] but it is missing`},
		{"in", `["a"]`, `{"v": "a"}`, ""},
		{"ninside", `["a", "b"]`, `{"v": "c"}`, ""},
		{"ninside", `["a", "b"]`, `{"v": "a"}`, `payload.v: ninside ["a","b"] but got 'a'`},
		{"nin", `["a"]`, `{}`, ""},
		{"timediff_lt", `60`, `{"v": "2026-06-01T11:59:30Z"}`, ""},
		{"timediff_lt", `60`, `{"v": "2026-06-01T11:00:00Z"}`, `payload.v: timediff_lt 60 but '2026-06-01T11:00:00Z' was 3600s ago`},
		{"timediff_lt", `60`, `{"v": "2026-06-01 13:59:30+02:00"}`, ""},
		{"timediff_lt", `60`, `{"v": "2026-06-01T11:59:30"}`, ""}, // no zone: UTC
		{"timediff_lt", `60`, `{"v": 1780315170}`, ""},            // Unix seconds: 11:59:30
		{"timediff_lt", `60`, `{"v": "yesterday"}`, `payload.v: timediff_lt 60 but got 'yesterday', which is not a time (RFC 3339 or Unix seconds)`},
		{"td_lt", `60`, `{"v": "2026-06-01T11:59:30.5Z"}`, ""},
		{"timediff_gt", `60`, `{"v": "2026-06-01T11:00:00Z"}`, ""},
		{"timediff_gt", `60`, `{"v": "2026-06-01T11:59:30Z"}`, `payload.v: timediff_gt 60 but '2026-06-01T11:59:30Z' was 30s ago`},
		{"td_gt", `"60"`, `{"v": "2026-06-01T11:00:00Z"}`, ""},
	} {
		name := fmt.Sprintf("%s %s on %s", tc.op, tc.pattern, tc.payload)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := pack.Criterion{Type: tc.op}
			if tc.pattern != "" {
				c.Pattern = []byte(tc.pattern)
			}
			r := compile(t, pack.Rule{Criteria: map[string]pack.Criterion{"payload.v": c}})
			res := r.Match(scope(t, tc.payload))
			if res.Err != nil {
				t.Fatalf("error: %v", res.Err)
			}
			if tc.reason == "" {
				if !res.Matched {
					t.Fatalf("no match: %s", res.Reason)
				}
				return
			}
			if res.Matched {
				t.Fatalf("matched, want %q", tc.reason)
			}
			if res.Reason != tc.reason {
				t.Fatalf("reason\n got: %s\nwant: %s", res.Reason, tc.reason)
			}
		})
	}
}

func TestSearchOverListItems(t *testing.T) {
	t.Parallel()
	const payload = `{"fields": [
		{"field_name": "Status", "to_value": "Denied"},
		{"field_name": "Status", "to_value": "Approved"},
		{"field_name": "Owner", "to_value": "ann"}]}`
	for _, tc := range []struct {
		name, criteria, reason string
	}{
		{"any item matches all nested criteria", `{"payload.fields": {"type": "search", "pattern": {
			"condition": "any", "criteria": {
				"item.field_name": {"type": "equals", "pattern": "Status"},
				"item.to_value": {"type": "equals", "pattern": "Approved"}}}}}`, ""},
		{"StackStorm's name for the nested criteria", `{"payload.fields": {"type": "search", "pattern": {
			"condition": "any", "pattern": {"item.to_value": {"type": "iequals", "pattern": "APPROVED"}}}}}`, ""},
		{"no item matches", `{"payload.fields": {"type": "search", "pattern": {
			"condition": "any", "criteria": {
				"item.field_name": {"type": "equals", "pattern": "Status"},
				"item.to_value": {"type": "equals", "pattern": "Escalated"}}}}}`,
			`payload.fields: search (any) but no item matched: item 0: item.to_value: equals 'Escalated' but got 'Denied'; ` +
				`item 1: item.to_value: equals 'Escalated' but got 'Approved'; item 2: item.field_name: equals 'Status' but got 'Owner'`},
		{"every item matches", `{"payload.fields": {"type": "search", "pattern": {
			"condition": "all", "criteria": {"item.field_name": {"type": "exists"}}}}}`, ""},
		{"one item does not", `{"payload.fields": {"type": "search", "pattern": {
			"condition": "all", "criteria": {"item.field_name": {"type": "equals", "pattern": "Status"}}}}}`,
			`payload.fields: search (all) but item 2: item.field_name: equals 'Status' but got 'Owner'`},
		{"not a list", `{"payload.fields.0": {"type": "search", "pattern": {
			"condition": "any", "criteria": {"item": {"type": "exists"}}}}}`,
			`payload.fields.0: search but got {"field_name":"Status","to_value":"Denied"}, which is not a list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := compile(t, pack.Rule{Criteria: criteria(t, tc.criteria)}).Match(scope(t, payload))
			if got := res.Reason; res.Matched != (tc.reason == "") || got != tc.reason {
				t.Fatalf("matched %v, reason\n got: %s\nwant: %s", res.Matched, got, tc.reason)
			}
		})
	}
}

func TestSearchOfScalarItemsAndEmptyLists(t *testing.T) {
	t.Parallel()
	anyItem := compile(t, pack.Rule{Criteria: criteria(t, `{"payload.tags": {"type": "search", "pattern": {
		"condition": "any", "criteria": {"item": {"type": "startswith", "pattern": "prod"}}}}}`)})
	allItems := compile(t, pack.Rule{Criteria: criteria(t, `{"payload.tags": {"type": "search", "pattern": {
		"condition": "all", "criteria": {"item": {"type": "startswith", "pattern": "prod"}}}}}`)})
	if res := anyItem.Match(scope(t, `{"tags": ["dev", "prod-eu"]}`)); !res.Matched {
		t.Errorf("any over [dev prod-eu]: %s", res.Reason)
	}
	if res := anyItem.Match(scope(t, `{"tags": []}`)); res.Matched || res.Reason != "payload.tags: search (any) but the list is empty" {
		t.Errorf("any over []: matched %v, %s", res.Matched, res.Reason)
	}
	// all([]) is true in StackStorm (Python's all): kept, so rules keep their meaning.
	if res := allItems.Match(scope(t, `{"tags": []}`)); !res.Matched {
		t.Errorf("all over []: %s", res.Reason)
	}
}

// Paths reach into lists by index and into the event's own fields, not only the payload.
func TestCriteriaPaths(t *testing.T) {
	t.Parallel()
	const payload = `{"items": [{"name": "disk", "tags": ["a", "b"]}], "nested": {"deep": {"x": 1}}}`
	for _, tc := range []struct {
		criteria string
		reason   string
	}{
		{`{"payload.items.0.name": {"type": "equals", "pattern": "disk"}}`, ""},
		{`{"payload.items.0.tags.1": {"type": "equals", "pattern": "b"}}`, ""},
		{`{"payload.items.1.name": {"type": "exists"}}`, "payload.items.1.name: exists but it is missing"},
		{`{"payload.items.x": {"type": "nexists"}}`, ""},
		{`{"payload.nested.deep.x": {"type": "gt", "pattern": 0}}`, ""},
		{`{"payload.nested.deep.x.y": {"type": "exists"}}`, "payload.nested.deep.x.y: exists but it is missing"},
		{`{"trigger": {"type": "equals", "pattern": "examples.ping"}}`, ""},
		{`{"id": {"type": "startswith", "pattern": "01J"}}`, ""},
		{`{"source": {"type": "inside", "pattern": ["webhook", "sensor"]}}`, ""},
		{`{"fired_at": {"type": "timediff_lt", "pattern": 120}}`, ""},
		{`{"fired_at": {"type": "timediff_lt", "pattern": 60}}`, "fired_at: timediff_lt 60 but '2026-06-01T11:58:30Z' was 90s ago"},
		// All criteria must hold; the first failing one, in path order, is the reason.
		{`{"payload.items.0.name": {"type": "equals", "pattern": "disk"},
		   "trigger": {"type": "equals", "pattern": "examples.pong"}}`, "trigger: equals 'examples.pong' but got 'examples.ping'"},
	} {
		t.Run(tc.criteria, func(t *testing.T) {
			t.Parallel()
			res := compile(t, pack.Rule{Criteria: criteria(t, tc.criteria)}).Match(scope(t, payload))
			if res.Matched != (tc.reason == "") || res.Reason != tc.reason {
				t.Fatalf("matched %v, reason\n got: %s\nwant: %s", res.Matched, res.Reason, tc.reason)
			}
		})
	}
}

// A pattern may be a template, rendered per event: a threshold kept in the pack's config.
func TestPatternTemplates(t *testing.T) {
	t.Parallel()
	r := compile(t, pack.Rule{Criteria: criteria(t, `{
		"payload.count": {"type": "greaterthan", "pattern": "{{ config.threshold }}"},
		"payload.host": {"type": "inside", "pattern": "{{ config.hosts }}"}}`)})
	if res := r.Match(scope(t, `{"count": 4, "host": "web-2"}`)); !res.Matched {
		t.Errorf("count 4 on web-2: %s", res.Reason)
	}
	if res := r.Match(scope(t, `{"count": 3, "host": "web-2"}`)); res.Reason != "payload.count: greaterthan 3 but got 3" {
		t.Errorf("count 3: matched %v, %s", res.Matched, res.Reason)
	}
	if res := r.Match(scope(t, `{"count": 4, "host": "db-1"}`)); res.Reason != `payload.host: inside ["web-1","web-2"] but got 'db-1'` {
		t.Errorf("db-1: matched %v, %s", res.Matched, res.Reason)
	}

	missing := compile(t, pack.Rule{Criteria: criteria(t, `{"payload.count": {"type": "gt", "pattern": "{{ config.limit }}"}}`)})
	res := missing.Match(scope(t, `{"count": 4}`))
	if res.Matched || res.Err == nil || res.Reason != "payload.count: gt: config.limit does not exist" {
		t.Errorf("pattern on a missing config key: matched %v, err %v, reason %s", res.Matched, res.Err, res.Reason)
	}
}

// Explain reports every criterion, for `attune rule test`, where Match stops at the first
// failure.
func TestExplainReportsEveryCriterion(t *testing.T) {
	t.Parallel()
	r := compile(t, pack.Rule{Criteria: criteria(t, `{
		"payload.level": {"type": "equals", "pattern": "error"},
		"payload.msg": {"type": "regex", "pattern": "^disk"},
		"trigger": {"type": "equals", "pattern": "examples.ping"}}`)})
	var got []string
	for _, c := range r.Explain(scope(t, `{"level": "info", "msg": "cpu hot"}`)) {
		got = append(got, fmt.Sprintf("%v %s", c.OK, c.Reason))
	}
	want := []string{
		"false payload.level: equals 'error' but got 'info'",
		"false payload.msg: regex '^disk' but got 'cpu hot'",
		"true trigger: equals 'examples.ping'",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("explain\n got: %q\nwant: %q", got, want)
	}
}
