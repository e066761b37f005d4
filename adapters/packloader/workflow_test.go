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
