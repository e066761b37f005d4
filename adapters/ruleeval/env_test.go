package ruleeval_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/ruleeval"
)

// Templates compiled against another scope (a workflow's) are as strict as a rule's: a name
// that is missing is an error naming its whole path from the scope's name, unless ?? gives a
// default or ?. allows it.
func TestTemplatesInAnotherScopeNameWhatIsMissing(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]any, result any) map[string]any {
		return map[string]any{
			"vars":   vars,
			"task":   map[string]any{"fetch": map[string]any{"result": map[string]any{"id": 7}}},
			"item":   nil,
			"result": func() any { return result },
		}
	}
	typing := env(map[string]any{}, nil)
	vars := map[string]any{"hosts": []any{"a"}, "none": nil}
	for _, tc := range []struct {
		name, template string
		want           string // the rendered JSON, or the error's MissingError
		missing        bool
	}{
		{"a var that exists", `{{ vars.hosts }}`, `["a"]`, false},
		{"a typo in a var", `{{ vars.hots }}`, `vars.hots does not exist`, true},
		{"a typo inside an expression", `{{ len(vars.hots) > 0 }}`, `vars.hots does not exist`, true},
		{"nested on a missing var", `{{ vars.a.b }}`, `vars.a does not exist, reading vars.a.b`, true},
		{"nested on a null var", `{{ vars.none.b }}`, `vars.none.b does not exist (its parent is null)`, true},
		{"a task that has not run", `{{ task.deploy.result }}`, `task.deploy does not exist, reading task.deploy.result`, true},
		{"a field of a task's result", `{{ task.fetch.result.nope }}`, `task.fetch.result.nope does not exist`, true},
		{"a field of result()", `{{ result().nope }}`, `result().nope does not exist`, true},
		{"a default with ??", `{{ vars.hots ?? [] }}`, `[]`, false},
		{"a nested default with ??", `{{ vars.a.b ?? 'none' }}`, `"none"`, false},
		{"a default for result()", `{{ result().nope ?? 0 }}`, `0`, false},
		{"?. on a null var", `{{ vars.none?.b }}`, `null`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, _ := json.Marshal(tc.template)
			tmpl, err := ruleeval.CompileTemplateIn(src, typing, "tasks", "a", "input")
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			v, err := tmpl.RenderIn(env(vars, map[string]any{"id": 1}))
			var me *ruleeval.MissingError
			if tc.missing {
				if !errors.As(err, &me) || me.Error() != tc.want {
					t.Fatalf("render = %v, %v; want the error %q", v, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got, _ := json.Marshal(v); string(got) != tc.want {
				t.Fatalf("render = %s, want %s", got, tc.want)
			}
		})
	}
}
