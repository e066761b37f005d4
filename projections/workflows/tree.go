package workflows

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/attune-go/attune/projections/executions"
)

// MaxDepth bounds how many levels of nested workflows a tree follows below its root; a
// child workflow deeper than that is marked Truncated (ask for its own tree).
const MaxDepth = 10

// Tree is one workflow with its task runs, their child executions and, for children that
// are workflows themselves, their own trees.
type Tree struct {
	// Execution is the parent execution's row; nil while the executions read model has not
	// caught up with it (each read model advances on its own).
	Execution *executions.Execution
	Workflow  Workflow
	Tasks     []Node // in the order the engine scheduled them
}

// Node is one task run in a tree.
type Node struct {
	Run   Run
	Child *executions.Execution // nil while the executions read model lacks it
	// Nested is the child's own tree when the child is a workflow, down to MaxDepth.
	Nested *Tree
	// Truncated says the child is a workflow below MaxDepth, left out.
	Truncated bool
}

// Parts is what a tree is built from, as the read models hold it.
type Parts struct {
	Workflows  map[string]Workflow // the root and the nested workflows down to MaxDepth
	Runs       []Run               // every run of those workflows
	Executions map[string]executions.Execution
	Deeper     map[string]bool // child workflows below MaxDepth
}

// Build assembles the tree of root, or returns ErrNotFound when root is not a workflow.
func Build(root string, p Parts) (Tree, error) {
	if _, ok := p.Workflows[root]; !ok {
		return Tree{}, fmt.Errorf("workflow tree of %s: %w", root, ErrNotFound)
	}
	byWorkflow := map[string][]Run{}
	for _, r := range p.Runs {
		byWorkflow[r.WorkflowID] = append(byWorkflow[r.WorkflowID], r)
	}
	for _, rs := range byWorkflow {
		slices.SortFunc(rs, func(a, b Run) int {
			return cmp.Or(cmp.Compare(a.ScheduledPosition.Major, b.ScheduledPosition.Major),
				cmp.Compare(a.ScheduledPosition.Minor, b.ScheduledPosition.Minor), cmp.Compare(a.ChildID, b.ChildID))
		})
	}
	var build func(id string, depth int, path map[string]bool) *Tree
	build = func(id string, depth int, path map[string]bool) *Tree {
		t := &Tree{Workflow: p.Workflows[id], Tasks: []Node{}}
		if x, ok := p.Executions[id]; ok {
			t.Execution = &x
		}
		path[id] = true
		defer delete(path, id)
		for _, r := range byWorkflow[id] {
			n := Node{Run: r}
			if x, ok := p.Executions[r.ChildID]; ok {
				n.Child = &x
			}
			_, nested := p.Workflows[r.ChildID]
			switch {
			case nested && depth < MaxDepth && !path[r.ChildID]:
				n.Nested = build(r.ChildID, depth+1, path)
			case nested || p.Deeper[r.ChildID]:
				n.Truncated = true
			}
			t.Tasks = append(t.Tasks, n)
		}
		return t
	}
	return *build(root, 0, map[string]bool{}), nil
}
