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
