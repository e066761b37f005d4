package workflowdef

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
)

// StackStorm's action-chain runner, compiled onto the same Workflow: each node of the chain is
// a task running its ref with its params (Jinja), on-success and on-failure are transitions
// guarded by the node's outcome, publish sets variables. The chain starts at default (else
// its first node); a node that fails with no on-failure fails the chain, and one with an
// on-failure that succeeds lets it go on, as in StackStorm, where the chain ends as its last
// node did.

var (
	chainKeys = []string{"chain", "default", "vars"}
	// parameters is StackStorm's name for a node's parameters; params its older one, still
	// accepted by StackStorm (st2common's actionchain.Node), never both at once.
	chainNodeKeys = []string{"name", "ref", "parameters", "params", "on-success", "on-failure", "publish"}
)

// ParseActionChain decodes, validates and compiles an action-chain definition; problems are
// located like Parse's (chain[2].on-success: message).
func ParseActionChain(raw json.RawMessage) (*Workflow, error) {
	c := &shapes{}
	top := c.mapping(raw, "", "a mapping of chain, default, vars", chainKeys)
	if top == nil {
		return nil, errors.Join(c.errs...)
	}
	sc := st2Compiler{c: c, env: chainEnv}
	w := &Workflow{tasks: map[string]*Task{}, dialect: DialectActionChain}
	var vars []entry
	if v := top["vars"]; !absent(v) {
		if m := c.mapping(v, "vars", "a mapping of name: value", nil); m != nil {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				vars = append(vars, entry{name: k, value: sc.raw(m[k], "vars."+k)})
			}
		}
	}
	w.vars = &chainContext{vars: vars}
	w.output = chainOutput{}
	var nodes []json.RawMessage
	if kind(top["chain"]) != "a list" || json.Unmarshal(top["chain"], &nodes) != nil || len(nodes) == 0 {
		c.bad("chain", "want a list of nodes (name, ref, params, on-success, on-failure, publish), got %s", kind(top["chain"]))
	}
	if len(nodes) > MaxTasks {
		c.bad("chain", "%d nodes, more than the %d a workflow may have", len(nodes), MaxTasks)
		nodes = nil
	}
	type link struct {
		target, path string
	}
	var links []link
	first := ""
	for i, raw := range nodes {
		at := fmt.Sprintf("chain[%d]", i)
		m := c.mapping(raw, at, "a node: a mapping of name, ref, params …", chainNodeKeys)
		if m == nil {
			continue
		}
		name := c.str(m["name"], at+".name")
		if name == "" {
			c.bad(at+".name", "missing")
			continue
		}
		if _, dup := w.tasks[name]; dup {
			c.bad(at+".name", "a node %q is already in the chain", name)
			continue
		}
		if first == "" {
			first = name
		}
		t := &Task{Name: name, Action: c.str(m["ref"], at+".ref")}
		if t.Action == "" {
			c.bad(at+".ref", "missing")
		}
		key := "parameters"
		if !absent(m["params"]) {
			if !absent(m["parameters"]) {
				c.bad(at+".params", "either params or parameters, not both (params is parameters' older name)")
			}
			key = "params"
		}
		if p := m[key]; !absent(p) {
			if kind(p) != "a mapping" {
				c.bad(at+"."+key, "want a mapping of parameter: value, got %s", kind(p))
			} else {
				t.input = sc.raw(p, at+"."+key).expression()
			}
		}
		if t.Action == inquiry.AskAction {
			t.input = asking(t.input, sc.env)
		}
		var publish expression
		if p := m["publish"]; !absent(p) {
			if pm := c.mapping(p, at+".publish", "a mapping of name: value", nil); pm != nil {
				var entries []entry
				for _, k := range slices.Sorted(maps.Keys(pm)) {
					entries = append(entries, entry{name: k, value: sc.raw(pm[k], at+".publish."+k)})
				}
				publish = newOrdered(entries)
			}
		}
		// Publish happens whatever the outcome, as StackStorm publishes after every node: a
		// first transition that always holds and leads nowhere carries it.
		if publish != nil {
			t.Next = append(t.Next, Transition{publish: publish})
		}
		for _, on := range []struct {
			key  string
			when expression
		}{{"on-success", chainSucceeded{}}, {"on-failure", chainFailed{}}} {
			target := c.str(m[on.key], at+"."+on.key)
			if target == "" {
				continue
			}
			links = append(links, link{target, at + "." + on.key})
			t.Next = append(t.Next, Transition{when: on.when, Do: []string{target}})
		}
		w.tasks[name] = t
	}
	for _, l := range links {
		if _, ok := w.tasks[l.target]; !ok {
			c.bad(l.path, "no node %q in the chain", l.target)
		}
	}
	start := c.str(top["default"], "default")
	if start == "" {
		start = first
	} else if _, ok := w.tasks[start]; !ok {
		c.bad("default", "no node %q in the chain", start)
	}
	if start != "" {
		w.start = []string{start}
	}
	for _, name := range w.unreachable() {
		c.bad("chain", "node %q: no path from the default node %q reaches it", name, start)
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return w, nil
}

// chainSucceeded and chainFailed guard on-success and on-failure.
type (
	chainSucceeded struct{ noKV }
	chainFailed    struct{ noKV }
)

func (chainSucceeded) eval(s Scope) (any, error) { return s.Status == execution.Completed, nil }
func (chainFailed) eval(s Scope) (any, error) {
	return s.Status.Terminal() && s.Status != execution.Completed, nil
}

// chainOutput is the chain's result: what it published (StackStorm's display_published),
// its vars included.
type chainOutput struct{ noKV }

func (chainOutput) eval(s Scope) (any, error) {
	return map[string]any{"published": orEmpty(s.Vars)}, nil
}

// chainContext is an action-chain's variables when it starts: its vars, rendered with its
// parameters.
type chainContext struct{ vars []entry }

func (c *chainContext) kvRefs() []ruleeval.KVRef {
	var out []ruleeval.KVRef
	for _, e := range c.vars {
		if e.value != nil {
			out = append(out, e.value.kv...)
		}
	}
	return out
}

func (c *chainContext) eval(s Scope) (any, error) {
	out := map[string]any{}
	for _, e := range c.vars {
		if e.value == nil {
			out[e.name] = nil
			continue
		}
		v, err := e.value.eval(s)
		if err != nil {
			return nil, fmt.Errorf("vars.%s: %w", e.name, err)
		}
		out[e.name] = v
	}
	return out, nil
}

// chainEnv is what an action-chain's Jinja reads: the chain's parameters, its vars and what
// its nodes published, each node's result by the node's name, and __results (all of them).
func chainEnv(s Scope) st2Env {
	vars := map[string]any{}
	maps.Copy(vars, s.Parameters)
	maps.Copy(vars, s.Vars)
	results := map[string]any{}
	for name, r := range s.Results {
		vars[name] = r
		results[name] = r
	}
	vars["__results"] = results
	vars["st2kv"] = kvOrEmpty(s.KV)
	// st2kv is a name here, as in action parameters ({{ st2kv.system.x }}); in Orquesta it is a
	// function (st2kv('system.x')).
	return st2Env{Vars: vars, Root: vars, Funcs: map[string]st2Func{"decrypt_kv": decryptKV}}
}
