package packloader_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/pack"
)

// st2WorkflowPack is a StackStorm pack holding the files given beside its pack.yaml.
func st2WorkflowPack(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{"p/pack.yaml": {Data: []byte("name: p\ndescription: d\nauthor: a\nversion: 1.0.0\n")}}
	for name, data := range files {
		fsys["p/"+name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// problems lists the messages a Load error joins.
func problems(err error) []string {
	var out []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			out = append(out, e.Error())
		}
	} else if err != nil {
		out = []string{err.Error()}
	}
	return out
}

func TestStackStormWorkflowsRegisterWrappedWithTheirDialect(t *testing.T) {
	t.Parallel()
	p, err := packloader.Load(st2WorkflowPack(map[string]string{
		"actions/flow.yaml":  "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n",
		"actions/chain.yaml": "name: chain\nrunner_type: action-chain\nentry_point: chains/chain.yaml\n",
		"actions/ask.yaml":   "name: ask\nrunner_type: inquirer\nparameters:\n  ttl: {type: integer, default: 5}\n",
		"actions/workflows/flow.yaml": "version: 1.0\ntasks:\n  a:\n    action: core.echo message=\"hi\"\n" +
			"    next:\n      - do: b, noop\n  b:\n    join: all\n",
		"actions/chains/chain.yaml": "chain:\n  - name: one\n    ref: core.noop\n    on-success: two\n  - name: two\n    ref: p.flow\n",
	}), "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	dialects := map[string]string{}
	for _, a := range p.Actions {
		if a.RunnerType != pack.RunnerWorkflow {
			t.Errorf("%s registered as %s, want a workflow (the engine runs every dialect)", a.Ref, a.RunnerType)
		}
		var env struct{ Dialect string }
		if err := json.Unmarshal(a.Workflow, &env); err != nil {
			t.Fatal(err)
		}
		dialects[a.Ref] = env.Dialect
		if _, err := workflowdef.Parse(a.Workflow); err != nil {
			t.Errorf("%s: the registered definition does not parse: %v", a.Ref, err)
		}
	}
	want := map[string]string{"p.flow": "orquesta", "p.chain": "action-chain", "p.ask": "inquirer"}
	if !reflect.DeepEqual(dialects, want) {
		t.Errorf("dialects %v, want %v", dialects, want)
	}
}

func TestStackStormWorkflowProblemsAreLocated(t *testing.T) {
	t.Parallel()
	_, err := packloader.Load(st2WorkflowPack(map[string]string{
		"actions/flow.yaml":  "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n",
		"actions/chain.yaml": "name: chain\nrunner_type: action-chain\nentry_point: workflows/chain.yaml\n",
		"actions/workflows/flow.yaml": "version: 1.0\ntasks:\n  a:\n    action: core.nope cmd=\"x\"\n" +
			"    next:\n      - do: b\n  b:\n    action: core.noop\n    timeout: 5\n",
		"actions/workflows/chain.yaml": "chain:\n  - name: one\n    ref: p.gone\n    on-failure: two\n",
	}), "p", nil)
	got := problems(err)
	want := []string{
		`p/actions/workflows/chain.yaml:4: chain[0].on-failure: no node "two" in the chain`,
		`p/actions/workflows/flow.yaml:9: tasks.b.timeout: unknown field (want one of action, description, input, next, join, with, retry, delay)`,
		`p/actions/workflows/chain.yaml:3: chain[0].ref: unknown action "p.gone": pack p has no such action`,
		`p/actions/workflows/flow.yaml:4: tasks.a.action: unknown action "core.nope": pack core has no such action`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestStackStormWorkflowExpressionsAreCheckedAtLoad(t *testing.T) {
	t.Parallel()
	_, err := packloader.Load(st2WorkflowPack(map[string]string{
		"actions/flow.yaml": "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n",
		"actions/workflows/flow.yaml": "version: 1.0\ntasks:\n  a:\n    action: core.echo\n    input:\n" +
			"      message: \"{{ ctx().x | no_such_filter }}\"\n",
	}), "p", nil)
	got := problems(err)
	if len(got) != 1 || !strings.HasPrefix(got[0], "p/actions/workflows/flow.yaml:6: tasks.a.input.message: ") || !strings.Contains(got[0], "no_such_filter") {
		t.Errorf("got %q, want the unknown filter refused at its line", got)
	}
}
