package ruleeval_test

import (
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

// An expression cannot make the server allocate without bound: repeat once asked for a
// terabyte in one allocation (a fatal error, not a panic), let turns linear code into
// exponential growth, and a range is bounded at run time.
func TestExpressionsCannotAllocateWithoutBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, template, want string }{
		{"repeat", `{"m": "{{ repeat(repeat('x', 999999), 999999) }}"}`, "repeat"},
		{"let", `{"m": "{{ let a = event.payload.msg; let b = a + a; b + b }}"}`, "let is not available"},
		{"a huge expression", `{"m": "{{ ` + strings.Repeat("event.payload.msg + ", 600) + `'' }}"}`, "exceeds maximum allowed nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ruleeval.Compile(pack.Rule{Ref: "p.r", Parameters: []byte(tc.template)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("compile error %v, want one that says %q", err, tc.want)
			}
		})
	}
	rule := compile(t, pack.Rule{Parameters: []byte(`{"n": "{{ len(map(1..999999, 1)) }}"}`)})
	if out, err := rule.Render(scope(t, `{}`)); err == nil || !strings.Contains(err.Error(), "memory budget exceeded") {
		t.Fatalf("rendered %s, %v; want the memory budget refused", out, err)
	}
	res := compile(t, pack.Rule{Expression: `{{ len(1..999999) > 0 }}`}).Match(scope(t, `{}`))
	if res.Matched || res.Err == nil {
		t.Fatalf("an expression over its memory budget: %+v", res)
	}
}

// expr has no step budget: predicates nested over a payload list are quadratic in what an
// anonymous webhook caller sends. A run iterates over at most a million items in all.
func TestNestedPredicatesOverAPayloadAreBounded(t *testing.T) {
	t.Parallel()
	payload := `{"l": [` + strings.Repeat("1,", 1999) + `1]}` // 2,000 × 2,000 > 1,000,000
	res := compile(t, pack.Rule{Expression: `{{ any(event.payload.l, any(event.payload.l, # == 2)) }}`}).Match(scope(t, payload))
	if res.Matched || res.Err == nil || !strings.Contains(res.Err.Error(), "iterates over more than 1000000 items") {
		t.Fatalf("nested predicates over 2,000 items: %+v", res)
	}
	rule := compile(t, pack.Rule{Parameters: []byte(`{"n": "{{ count(event.payload.l, all(event.payload.l, # == 1)) }}"}`)})
	if out, err := rule.Render(scope(t, payload)); err == nil || !strings.Contains(err.Error(), "iterates over more than") {
		t.Fatalf("rendered %s, %v; want the iteration budget refused", out, err)
	}
	// One pass, and a nested one within the budget, are fine.
	res = compile(t, pack.Rule{Expression: `{{ all(event.payload.l, # == 1) and any(event.payload.l[:400], any(event.payload.l[:400], # == 1)) }}`}).Match(scope(t, payload))
	if !res.Matched {
		t.Fatalf("predicates within the budget: %+v", res)
	}
}
