package packloader

import (
	"errors"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/pack"
)

// workflowSource is a workflow definition read from its file, kept until every action of the
// pack is known so that its tasks' action refs can be checked.
type workflowSource struct {
	f       fileProblems
	root    *yaml.Node
	dialect string // workflowdef.DialectAttune, or a StackStorm one (st2_workflow.go)
}

// checkWorkflow validates a workflow definition with the engine's own parser, so a workflow
// that would fail at run time (an unknown task in do, a bad expression, a task no path
// reaches) is refused at load, each problem at its line.
func (l *loader) checkWorkflow(f fileProblems, root *yaml.Node, a pack.Action) {
	l.workflows = append(l.workflows, workflowSource{f: f, root: root})
	if _, err := workflowdef.ParseNative(a.Workflow); err != nil {
		f.problemsAt(root, err)
	}
}

// resolveWorkflow checks that every task names an action that exists, whatever else is wrong
// with the definition.
func (l *loader) resolveWorkflow(w workflowSource) {
	if w.dialect != workflowdef.DialectAttune {
		l.resolveSt2Workflow(w)
		return
	}
	tasks := child(w.root, "tasks")
	if tasks == nil || tasks.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(tasks.Content); i += 2 {
		name := tasks.Content[i].Value
		ref := child(tasks.Content[i+1], "action")
		if ref == nil || ref.Kind != yaml.ScalarNode || ref.Value == "" {
			continue // Parse reports a missing action
		}
		if _, msg := l.action(ref.Value); msg != "" {
			w.f.at(ref, "tasks."+name+".action", "%s", msg)
		}
	}
}

func problemLines(err error) []string {
	var out []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			out = append(out, problemLines(e)...)
		}
		return out
	}
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// nodeAt finds the node of a path like tasks.deploy.next[0].do, or the deepest one found.
func nodeAt(root *yaml.Node, path string) *yaml.Node {
	n := root
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if next := child(n, key); next != nil {
			n = next
		} else {
			return n
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(idx)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return n
			}
			n = n.Content[i]
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return n
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
