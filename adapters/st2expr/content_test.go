package st2expr_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/attune-go/attune/adapters/st2expr"
)

// TestStackStormContent renders expressions as StackStorm's own example workflows write them
// (st2 contrib/examples/actions/workflows/tests/orquesta-test-{yaql,jinja}-data-functions.yaml,
// orquesta-test-yaql-path-functions.yaml, orquesta-st2-ctx.yaml, orquesta-mock-create-vm.yaml,
// Orquesta's with-multi-items.yaml), each published value feeding the next as Orquesta does.
func TestStackStormContent(t *testing.T) {
	t.Parallel()
	wf := map[string]any{
		"data_json_str_1": `{"foo": {"bar": "foobar"}}`,
		"st2":             map[string]any{"api_url": "http://127.0.0.1:9101/v1", "action_execution_id": "abc"},
		"vm_name":         "vm1",
		"members":         []any{"a", "b"},
		"messages":        []any{"hi", "yo"},
	}
	ctxFunc := func(_ context.Context, args ...any) (any, error) {
		if len(args) == 0 {
			return wf, nil
		}
		return wf[args[0].(string)], nil
	}
	env := st2expr.Env{Root: wf, Funcs: map[string]st2expr.Func{
		"ctx": ctxFunc,
		"result": func(context.Context, ...any) (any, error) {
			return map[string]any{"result": map[string]any{"vm_id": "i-1"}}, nil
		},
	}}
	for _, lang := range []struct {
		name  string
		steps [][2]string // published name, expression
	}{
		{"yaql", [][2]string{
			{"data_json_obj_1", `<% from_json_string(ctx(data_json_str_1)) %>`},
			{"data_yaml_str_1", `<% to_yaml_string(ctx(data_json_obj_1)) %>`},
			{"data_json_obj_2", `<% from_yaml_string(ctx(data_yaml_str_1)) %>`},
			{"data_json_str_2", `<% to_json_string(ctx(data_json_obj_2)) %>`},
			{"data_query_1", `<% jsonpath_query(ctx(data_json_obj_2), '$.foo.bar') %>`},
			{"basename", `<% basename("/path/to/some/file.txt") %>`},
			{"dirname", `<% dirname("/path/to/some/file.txt") %>`},
			{"callback", `<% ctx(st2).api_url %>/executions/<% ctx(st2).action_execution_id %>`},
			{"status_message", `DNS for <% ctx().vm_name %> is registered.`},
			{"vm_id", `<% result().result.vm_id %>`},
			{"pairs", `<% zip(ctx(members), ctx(messages)) %>`},
		}},
		{"jinja", [][2]string{
			{"data_json_obj_1", `{{ from_json_string(ctx("data_json_str_1")) }}`},
			{"data_yaml_str_1", `{{ to_yaml_string(ctx("data_json_obj_1")) }}`},
			{"data_json_obj_2", `{{ from_yaml_string(ctx("data_yaml_str_1")) }}`},
			{"data_json_str_2", `{{ to_json_string(ctx("data_json_obj_2")) }}`},
			{"data_query_1", `{{ jsonpath_query(ctx("data_json_obj_2"), "$.foo.bar") }}`},
			{"data_pipe_str_1", "{{\n    ctx(\"data_json_str_1\") |\n    from_json_string() |\n    to_yaml_string() |\n    from_yaml_string() |\n    to_json_string()\n}}"},
			{"basename", `{{ basename("/path/to/some/file.txt") }}`},
			{"dirname", `{{ "/path/to/some/file.txt" | dirname }}`},
			{"callback", `{{ ctx("st2").api_url }}/executions/{{ ctx().st2.action_execution_id }}`},
			{"status_message", `DNS for {{ ctx().vm_name }} is registered.`},
			{"vm_id", `{{ result().result.vm_id }}`},
			{"pairs", `{{ zip(ctx("members"), ctx("messages")) }}`},
		}},
	} {
		want := map[string]any{
			"data_json_obj_1": map[string]any{"foo": map[string]any{"bar": "foobar"}},
			"data_yaml_str_1": "foo:\n  bar: foobar\n",
			"data_json_obj_2": map[string]any{"foo": map[string]any{"bar": "foobar"}},
			"data_json_str_2": `{"foo": {"bar": "foobar"}}`,
			"data_pipe_str_1": `{"foo": {"bar": "foobar"}}`,
			"data_query_1":    []any{"foobar"},
			"basename":        "file.txt",
			"dirname":         "/path/to/some",
			"callback":        "http://127.0.0.1:9101/v1/executions/abc",
			"status_message":  "DNS for vm1 is registered.",
			"vm_id":           "i-1",
			"pairs":           []any{[]any{"a", "hi"}, []any{"b", "yo"}},
		}
		for _, step := range lang.steps {
			tpl, err := st2expr.Compile(step[1])
			if err != nil {
				t.Errorf("%s %s: Compile: %v", lang.name, step[0], err)
				continue
			}
			got, err := tpl.Render(context.Background(), env)
			if err != nil {
				t.Errorf("%s %s: %v", lang.name, step[0], err)
				continue
			}
			if !reflect.DeepEqual(got, want[step[0]]) {
				t.Errorf("%s %s = %#v, want %#v", lang.name, step[0], got, want[step[0]])
			}
			wf[step[0]] = got
		}
	}
}
