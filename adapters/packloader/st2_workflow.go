package packloader

import (
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/pack"
)

// StackStorm's workflow runners in a StackStorm pack: an orquesta or action-chain action's
// entry point (under actions/) is read in its dialect, checked whole by the engine's own
// parser (workflowdef.ParseOrquesta, ParseActionChain: every key, every expression, every do
// target, each problem at its line), and registered wrapped with its dialect
// (workflowdef.Wrap) as a workflow action, so the engine evaluates what was registered. An
// inquirer action is registered as a workflow of one core.ask task.

// st2Workflow reads the definition of a StackStorm orquesta or action-chain action into a
// (its runner_type is the dialect: workflowdef's names are StackStorm's). It registers it as
// a workflow action: every part of Attune that tells a workflow from a process (the bus's
// routing, the scheduler, the reaper, the dashboard) then treats it as one, and the wrapped
// definition says which dialect the engine reads. It reports whether a is to be registered.
func (l *loader) st2Workflow(f fileProblems, o object, a *pack.Action) bool {
	dialect := string(a.RunnerType)
	a.RunnerType = pack.RunnerWorkflow
	ep, data, ok := l.entryPoint(f, o, "actions")
	if !ok {
		return true
	}
	a.EntryPoint, a.EntryPointSHA256 = ep, digestOf(data)
	wf := fileProblems{f.problems, path.Join(l.dir, "actions", ep)}
	root := l.parse(wf, data)
	if root == nil {
		return true
	}
	if root.Kind != yaml.MappingNode {
		wf.at(root, "", "want a mapping (a workflow definition), got %s", describe(root))
		return true
	}
	v, ok := wf.value(root, "")
	if !ok {
		return true
	}
	def := toJSON(v)
	parse := workflowdef.ParseOrquesta
	if dialect == workflowdef.DialectActionChain {
		parse = workflowdef.ParseActionChain
	}
	if _, err := parse(def); err != nil {
		wf.problemsAt(root, err)
	}
	wrapped, err := workflowdef.Wrap(dialect, def)
	if err != nil {
		wf.at(root, "", "record the definition: %v", err)
		return true
	}
	a.Workflow = wrapped
	l.workflows = append(l.workflows, workflowSource{f: wf, root: root, dialect: dialect})
	return true
}

// st2Inquirer registers an inquirer action (StackStorm's core.ask shape: schema, roles,
// users, route, ttl in minutes) as a workflow asking core.ask (workflowdef.Inquirer).
func (l *loader) st2Inquirer(a *pack.Action) {
	a.RunnerType = pack.RunnerWorkflow
	a.Workflow = workflowdef.InquirerDefinition()
}

// problemsAt reports each problem of a parse error at the line of the path it names.
func (f fileProblems) problemsAt(root *yaml.Node, err error) {
	for _, line := range problemLines(err) {
		where, msg, ok := strings.Cut(line, ": ")
		if !ok || strings.Contains(where, " ") {
			f.at(root, "", "%s", line)
			continue
		}
		f.at(nodeAt(root, where), where, "%s", msg)
	}
}

// resolveSt2Workflow checks that every task (node) names an action that exists: an Orquesta
// task's action without its inline parameters, an action-chain node's ref.
func (l *loader) resolveSt2Workflow(w workflowSource) {
	check := func(task *yaml.Node, key, field string) {
		ref := child(task, key)
		if ref == nil || ref.Kind != yaml.ScalarNode || ref.Value == "" {
			return // an action-less Orquesta task, or a problem the parser reports
		}
		name, _, _ := strings.Cut(strings.TrimSpace(ref.Value), " ")
		if strings.Contains(name, "<%") || strings.Contains(name, "{{") {
			return
		}
		if _, msg := l.action(name); msg != "" {
			w.f.at(ref, field, "%s", msg)
		}
	}
	if w.dialect == workflowdef.DialectActionChain {
		chain := child(w.root, "chain")
		if chain == nil || chain.Kind != yaml.SequenceNode {
			return
		}
		for i, node := range chain.Content {
			check(node, "ref", index("chain", i)+".ref")
		}
		return
	}
	tasks := child(w.root, "tasks")
	if tasks == nil || tasks.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(tasks.Content); i += 2 {
		check(tasks.Content[i+1], "action", "tasks."+tasks.Content[i].Value+".action")
	}
}
