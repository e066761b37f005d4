package causality

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
)

// ErrNotFound is returned for the trace of a trigger event the read models do not hold (yet).
var ErrNotFound = errors.New("trigger event not found")

// Kind is what a node of a trace stands for.
type Kind string

// The kinds of node.
const (
	KindEvent       Kind = "event"
	KindEnforcement Kind = "enforcement"
	KindExecution   Kind = "execution"
)

// Trace is the causal tree of one trigger event.
type Trace struct {
	Root Node
	// Other holds the events correlated with the trigger event that lie on none of the
	// tree's streams (nothing, today; a future handler's streams would show here).
	Other []Entry
}

// Node is one stream of a trace: exactly one of Event, Enforcement and Execution is set.
type Node struct {
	Kind        Kind
	ID          string
	Event       *events.Event
	Enforcement *enforcements.Enforcement
	Execution   *executions.Execution
	Log         []Entry // the events of its stream, in log order
	Children    []Node  // by creation time
}

// Stream is the node's stream in the log.
func (n Node) Stream() string {
	switch n.Kind {
	case KindEvent:
		return trigger.StreamID(n.ID)
	case KindEnforcement:
		return enforcement.StreamID(n.ID)
	default:
		return execution.StreamID(n.ID)
	}
}

// Parts are what the read models hold about one trigger event's consequences, as the trace
// query gathers them.
type Parts struct {
	Event        events.Event
	Enforcements []enforcements.Enforcement // those of the event
	Executions   []executions.Execution     // those of its enforcements, or of the event, and their descendants
	Log          []Entry                    // the events correlated with it or on the streams above
}

// Build assembles the tree: enforcements under the event, each execution under its parent
// execution, else its enforcement, else the event. Log entries go to the node of their
// stream; an entry seen twice (correlated and on a node's stream) is listed once.
func Build(p Parts) Trace {
	root := &Node{Kind: KindEvent, ID: p.Event.ID, Event: &p.Event}
	byStream := map[string]*Node{root.Stream(): root}
	enfs := map[string]*Node{}
	// Nodes are linked by pointer while the tree is built, then copied out.
	type link struct {
		node   *Node
		parent *Node
		at     time.Time
	}
	var links []link
	for i := range p.Enforcements {
		x := &p.Enforcements[i]
		if x.EventID != p.Event.ID {
			continue
		}
		n := &Node{Kind: KindEnforcement, ID: x.ID, Enforcement: x}
		enfs[x.ID] = n
		byStream[n.Stream()] = n
		links = append(links, link{node: n, parent: root, at: x.CreatedAt})
	}
	execs := map[string]*Node{}
	for i := range p.Executions {
		x := &p.Executions[i]
		n := &Node{Kind: KindExecution, ID: x.ID, Execution: x}
		execs[x.ID] = n
		byStream[n.Stream()] = n
	}
	for i := range p.Executions {
		x := &p.Executions[i]
		parent := root
		if n, ok := execs[x.Parent]; ok && x.Parent != "" {
			parent = n
		} else if n, ok := enfs[x.Enforcement]; ok && x.Enforcement != "" {
			parent = n
		}
		links = append(links, link{node: execs[x.ID], parent: parent, at: x.CreatedAt})
	}
	var t Trace
	seen := map[string]bool{}
	for _, e := range p.Log {
		if seen[e.EventID] {
			continue
		}
		seen[e.EventID] = true
		if n, ok := byStream[e.StreamID]; ok {
			n.Log = append(n.Log, e)
		} else {
			t.Other = append(t.Other, e)
		}
	}
	for _, n := range byStream {
		slices.SortFunc(n.Log, byPosition)
	}
	slices.SortFunc(t.Other, byPosition)

	children := map[*Node][]link{}
	for _, l := range links {
		children[l.parent] = append(children[l.parent], l)
	}
	var build func(n *Node, depth int) Node
	build = func(n *Node, depth int) Node {
		out := *n
		ls := children[n]
		slices.SortFunc(ls, func(a, b link) int {
			return cmp.Or(a.at.Compare(b.at), strings.Compare(string(a.node.Kind), string(b.node.Kind)), strings.Compare(a.node.ID, b.node.ID))
		})
		// A parent loop cannot come from the log (a parent exists before its child), but a
		// bounded depth keeps a corrupt read model from hanging the API.
		if depth < 64 {
			for _, l := range ls {
				out.Children = append(out.Children, build(l.node, depth+1))
			}
		}
		return out
	}
	t.Root = build(root, 0)
	return t
}

func byPosition(a, b Entry) int {
	switch {
	case a.Position.Less(b.Position):
		return -1
	case b.Position.Less(a.Position):
		return 1
	}
	return 0
}
