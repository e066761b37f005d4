package ruleeval

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// pathRef is a constant path an expression reads, kept to explain a false expression.
type pathRef struct {
	text string // event.payload.count
	segs []any  // "event", "payload", "count"; ints index lists
}

// referencedPaths lists the longest constant paths src reads from the scope, sorted. It
// compiles src again, with a collecting visitor, because the optimiser may rewrite the tree
// of the program that runs.
func referencedPaths(src string) []pathRef {
	c := &pathCollector{}
	if _, _, err := compileBounded(src, map[string]any{
		nameEvent: map[string]any{}, nameConfig: map[string]any{}, nameSystem: map[string]any{}, nameKV: emptyKV(),
	}, expr.Patch(c)); err != nil {
		return nil
	}
	var out []pathRef
	for _, p := range c.paths {
		longer := slices.ContainsFunc(c.paths, func(q pathRef) bool {
			return len(q.segs) > len(p.segs) && strings.HasPrefix(q.text, p.text)
		})
		dup := slices.ContainsFunc(out, func(q pathRef) bool { return q.text == p.text })
		if !longer && !dup {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b pathRef) int { return strings.Compare(a.text, b.text) })
	return out
}

type pathCollector struct {
	paths []pathRef
	seen  map[ast.Node]pathRef
}

func (c *pathCollector) Visit(node *ast.Node) {
	if c.seen == nil {
		c.seen = map[ast.Node]pathRef{}
	}
	var p pathRef
	switch x := (*node).(type) {
	case *ast.IdentifierNode:
		switch x.Value {
		case nameEvent, nameConfig, nameSystem, nameKV:
			p = pathRef{text: x.Value, segs: []any{x.Value}}
		default:
			return
		}
	case *ast.MemberNode:
		parent, ok := c.seen[x.Node]
		if !ok {
			return
		}
		switch k := x.Property.(type) {
		case *ast.StringNode:
			p = pathRef{text: parent.text + memberSuffix(k.Value), segs: append(slices.Clip(parent.segs), k.Value)}
		case *ast.IntegerNode:
			p = pathRef{text: parent.text + "[" + strconv.Itoa(k.Value) + "]", segs: append(slices.Clip(parent.segs), k.Value)}
		default:
			return
		}
	case *ast.ChainNode:
		var ok bool
		if p, ok = c.seen[x.Node]; !ok {
			return
		}
	default:
		return
	}
	c.seen[*node] = p
	if len(p.segs) > 1 {
		c.paths = append(c.paths, p)
	}
}

// lookup resolves segs in vars; ok is false when a step is missing.
func lookup(vars any, segs []any) (any, bool) {
	cur := vars
	for _, s := range segs {
		switch x := cur.(type) {
		case map[string]any:
			k, _ := s.(string)
			v, ok := x[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, ok := s.(int)
			if !ok {
				n, err := strconv.Atoi(fmt.Sprint(s))
				if err != nil {
					return nil, false
				}
				i = n
			}
			if i < 0 {
				i += len(x)
			}
			if i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
