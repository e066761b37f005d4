package packloader_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/attune-go/attune/adapters/packloader"
)

func TestAnInvalidWorkflowIsRefusedAtLoadWithFileAndLine(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"p/pack.yaml":         {Data: []byte("ref: p\nversion: 1.0.0\n")},
		"p/actions/flow.yaml": {Data: []byte("name: flow\nrunner_type: workflow\nentry_point: workflows/flow.yaml\n")},
		"p/actions/workflows/flow.yaml": {Data: []byte(`version: 1
tasks:
  a:
    action: core.nope
    next:
      - when: "{{ succeeded() and }}"
        do: [b, zz]
  b:
    action: core.echo
    input: {message: hi}
`)},
	}
	_, err := packloader.Load(fsys, "p", nil)
	if err == nil {
		t.Fatal("a workflow with an unknown task, an unknown action and a bad expression loaded")
	}
	got := err.Error()
	for _, want := range []string{
		`p/actions/workflows/flow.yaml:6: tasks.a.next[0].when: `,
		`p/actions/workflows/flow.yaml:7: tasks.a.next[0].do: unknown task "zz"`,
		`p/actions/workflows/flow.yaml:4: tasks.a.action: unknown action "core.nope": pack core has no such action`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("load error lacks %q:\n%s", want, got)
		}
	}
}

func TestAValidWorkflowLoads(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"p/pack.yaml":         {Data: []byte("ref: p\nversion: 1.0.0\n")},
		"p/actions/flow.yaml": {Data: []byte("name: flow\nrunner_type: workflow\nentry_point: workflows/flow.yaml\n")},
		"p/actions/workflows/flow.yaml": {Data: []byte(`version: 1
tasks:
  a:
    action: core.echo
    input: {message: hi}
    next:
      - when: "{{ succeeded() }}"
        do: [b]
  b:
    action: p.flow2
`)},
		"p/actions/flow2.yaml":           {Data: []byte("name: flow2\nrunner_type: workflow\nentry_point: workflows/flow2.yaml\n")},
		"p/actions/workflows/flow2.yaml": {Data: []byte("version: 1\ntasks:\n  only:\n    action: core.noop\n")},
	}
	if _, err := packloader.Load(fsys, "p", nil); err != nil {
		t.Fatalf("a valid workflow (calling another of the pack) was refused: %v", err)
	}
}

// Every shape of a workflow is checked at load, each problem at its file and line, so that
// nothing the loader accepts stalls a run (vars written as a list used to load, then leave
// the workflow requested for ever).
func TestAWorkflowOfTheWrongShapeIsRefusedAtLoad(t *testing.T) {
	t.Parallel()
	const at = "p/actions/workflows/flow.yaml:"
	for _, tc := range []struct {
		name, definition, want string
	}{
		{"vars as a list", "vars:\n  - hosts: []\ntasks:\n  a: {action: core.noop}\n",
			at + "2: vars: want a mapping of name: value, got a list"},
		{"output as a list", "tasks:\n  a: {action: core.noop}\noutput:\n  - x: 1\n",
			at + "4: output: want a mapping of name: value, got a list"},
		{"input as a string", "tasks:\n  a:\n    action: core.echo\n    input: hello\n",
			at + "4: tasks.a.input: want a mapping of name: value, got a string"},
		{"publish as a list", "tasks:\n  a:\n    action: core.noop\n    next:\n      - publish:\n          - x: 1\n",
			at + "6: tasks.a.next[0].publish: want a mapping of name: value, got a list"},
		{"next as a mapping", "tasks:\n  a:\n    action: core.noop\n    next:\n      do: a\n",
			at + "5: tasks.a.next: want a list of transitions (when, publish, do), got a mapping"},
		{"a misspelt task field", "tasks:\n  a:\n    action: core.noop\n    retyr: {count: 2}\n",
			at + "4: tasks.a.retyr: unknown field (want one of action, description, input, next, join, with, retry, timeout, delay)"},
		{"a misspelt transition field", "tasks:\n  a:\n    action: core.noop\n    next:\n      - when: \"{{ succeeded() }}\"\n        dos: [a]\n",
			at + "6: tasks.a.next[0].dos: unknown field (want one of when, publish, do)"},
		{"with.items as text", "tasks:\n  a:\n    action: core.noop\n    with: {items: vars.hosts}\n",
			at + `4: tasks.a.with.items: want a {{ expression }} giving a list, or a list, got the text "vars.hosts"`},
		{"retry count as text", "tasks:\n  a:\n    action: core.noop\n    retry:\n      count: twice\n",
			at + "5: tasks.a.retry.count: want a number, got a string"},
		{"join of nonsense", "tasks:\n  a: {action: core.noop, next: [{do: b}]}\n  b:\n    action: core.noop\n    join: [a]\n",
			at + "5: tasks.b.join: want all or a number, got [\"a\"]"},
		{"a misspelt top-level field", "tasks:\n  a: {action: core.noop}\nouptut: {x: 1}\n",
			at + "3: ouptut: unknown field (want one of version, description, vars, tasks, output)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{
				"p/pack.yaml":                   {Data: []byte("ref: p\nversion: 1.0.0\n")},
				"p/actions/flow.yaml":           {Data: []byte("name: flow\nrunner_type: workflow\nentry_point: workflows/flow.yaml\n")},
				"p/actions/workflows/flow.yaml": {Data: []byte(tc.definition)},
			}
			_, err := packloader.Load(fsys, "p", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}
