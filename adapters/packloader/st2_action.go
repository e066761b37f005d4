package packloader

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// st2ActionFields are the keys of StackStorm's action schema (st2common ActionAPI).
var st2ActionFields = []string{
	"name", "description", "enabled", "runner_type", "entry_point", "pack", "ref", "uid",
	"parameters", "tags", "notify", "output_schema", "id",
}

// readSt2Action reads an action metadata file of a StackStorm pack.
func (l *loader) readSt2Action(f fileProblems, root *yaml.Node) {
	o := f.object(root, "", st2ActionFields...)
	var a pack.Action
	a.Name, a.Ref = l.name(f, o, pack.KindAction)
	a.Description = o.str("description")
	a.Disabled = !o.boolean("enabled", true)
	l.st2Identity(f, o, "action", a.Ref)
	a.Tags = f.st2Tags(o)
	if n := o.get("id"); n != nil {
		f.at(n, "id", "StackStorm's database sets it; remove it")
	}
	// Neither changes what the action does, and a pack that has them still runs as its
	// author meant: they load, and the user is told they do nothing here.
	if n := o.get("notify"); n != nil {
		l.warn("%s:%d: notify: notifications are not sent: Attune has no StackStorm notifier (follow executions with `attune tail` instead)", f.file, n.Line)
	}
	a.Parameters = f.st2ActionParams(o.get("parameters"), "parameters")
	rt := o.needStr("runner_type")
	if rt == "" {
		return
	}
	runner, err := pack.ParseStackStormRunnerType(rt)
	if err != nil {
		f.at(o.get("runner_type"), "runner_type", "%s", err.Error())
		return
	}
	a.RunnerType = runner
	a.Parameters = f.withRunnerParams(o.get("parameters"), runner, a.Parameters)
	if n := o.get("output_schema"); n != nil {
		if runner.OutputKey() == "" {
			l.warn("%s:%d: output_schema: not checked: Attune checks the output of local-shell-cmd, local-shell-script, python-script and http-request actions, not of %s", f.file, n.Line, runner)
		} else {
			a.OutputSchema = f.st2OutputSchema(n, "output_schema")
		}
	}
	switch {
	case runner.IsWorkflow():
		// orquesta and action-chain definitions are the workflow loader's (st2_workflow.go).
		if !l.st2Workflow(f, o, &a) {
			return
		}
	case runner == pack.RunnerInquirer || runner == pack.RunnerNoop:
		if n := o.get("entry_point"); n != nil && n.Value != "" {
			l.warn("%s:%d: entry_point: not used: a %s action has no entry point", f.file, n.Line, runner)
		}
		if runner == pack.RunnerInquirer {
			l.st2Inquirer(&a) // st2_workflow.go
		}
	case runner == pack.RunnerLocalShellCmd || runner == pack.RunnerRemoteShellCmd || runner == pack.RunnerHTTPRequest:
		// Their entry point, when a pack writes one, is unused by StackStorm too: these
		// runners run their parameters (cmd, url).
		if n := o.get("entry_point"); n != nil && n.Value != "" {
			l.warn("%s:%d: entry_point: not used: a %s action runs its parameters, not a file", f.file, n.Line, runner)
		}
	default:
		if ep, data, ok := l.entryPoint(f, o, "actions"); ok {
			a.EntryPoint, a.EntryPointSHA256 = ep, digestOf(data)
		}
		if runner == pack.RunnerLocalShellScript || runner == pack.RunnerRemoteShellScript {
			f.noSecretOnCommandLine(o.get("parameters"), runner, a.Parameters)
		}
	}
	l.p.Actions = append(l.p.Actions, a)
}

// st2Identity checks the fields by which StackStorm content names itself and its pack: pack
// must be this pack, ref <pack>.<name>, uid <kind>:<pack>:<name>.
func (l *loader) st2Identity(f fileProblems, o object, kind, ref string) {
	if p := o.str("pack"); p != "" && l.refOK && p != l.p.Ref {
		f.at(o.get("pack"), "pack", "%q is not this pack (%s): StackStorm registers the file under the pack it is in", p, l.p.Ref)
	}
	if r := o.str("ref"); r != "" && ref != "" && r != ref {
		f.at(o.get("ref"), "ref", "%q is not this %s's ref, which is %s (<pack>.<name>)", r, kind, ref)
	}
	if u := o.str("uid"); u != "" && ref != "" {
		if want := kind + ":" + l.p.Ref + ":" + ref[len(l.p.Ref)+1:]; u != want {
			f.at(o.get("uid"), "uid", "%q is not this %s's uid, which is %s", u, kind, want)
		}
	}
}

// st2Tags reads StackStorm's tags: a list of {name, value}.
func (f fileProblems) st2Tags(o object) []pack.Tag {
	n := o.get("tags")
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		f.at(n, "tags", "want a list of {name, value}, got %s", describe(n))
		return nil
	}
	var out []pack.Tag
	for i, c := range n.Content {
		t := f.object(c, index("tags", i), "name", "value")
		if name := t.needStr("name"); name != "" {
			out = append(out, pack.Tag{Name: name, Value: f.scalarString(t.get("value"), t.field("value"))})
		}
	}
	return out
}

// withRunnerParams merges the runner's parameters into the action's: an action takes them
// all, and a parameter it declares with a runner parameter's name refines that parameter (a
// default, immutable, a description, an enum, secret, required, bounds), keeping the runner's
// type when it gives none. Changing the type is refused: the runner reads the value as its own
// type.
func (f fileProblems) withRunnerParams(n *yaml.Node, runner pack.RunnerType, own pack.Params) pack.Params {
	runnerParams := pack.StackStormRunnerParams(runner)
	if len(runnerParams) == 0 {
		return own
	}
	out := maps.Clone(runnerParams)
	for name, p := range own {
		base, isRunner := runnerParams[name]
		if !isRunner {
			out[name] = p
			continue
		}
		if p.Type != "" && p.Type != base.Type {
			f.at(child(child(n, name), "type"), join(join("parameters", name), "type"),
				"%s is a parameter of the %s runner, of type %s: an action may refine it but not change its type", name, runner, base.Type)
			continue
		}
		p.Type = base.Type
		p.Description = cmp.Or(p.Description, base.Description)
		if p.Default == nil {
			p.Default = base.Default // immutable without a default pins the runner's
		}
		p.Secret = p.Secret || base.Secret
		p.Required = p.Required || base.Required
		out[name] = p
	}
	return out
}

// noSecretOnCommandLine refuses a secret parameter of a local-shell-script or
// remote-shell-script action: StackStorm passes every action parameter on the script's command
// line, which any process on the host that runs it can read (/proc/PID/cmdline).
func (f fileProblems) noSecretOnCommandLine(n *yaml.Node, runner pack.RunnerType, params pack.Params) {
	runnerParams := pack.StackStormRunnerParams(runner)
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if _, isRunner := runnerParams[name]; isRunner || !params[name].Secret {
			continue
		}
		f.at(child(child(n, name), "secret"), join(join("parameters", name), "secret"),
			"a %s gets its parameters on its command line (--%s=…), which every process on the host can read: a secret cannot be one of them; make the action a python-script (parameters on a pipe), or have the script read the secret from the key-value store", runner, name)
	}
}

// st2OutputSchema reads an action's output_schema: a JSON Schema of the runner's output, or
// (StackStorm before 3.5) a mapping of the output's properties, which StackStorm reads as
// {type: object, properties: …}. An empty one checks nothing.
func (f fileProblems) st2OutputSchema(n *yaml.Node, field string) json.RawMessage {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, field, "want a JSON Schema of the output (a mapping), got %s", describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		return nil
	}
	full := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i].Value, resolve(n.Content[i+1]); (k == "type" || k == "$schema") && v.Kind == yaml.ScalarNode {
			full = true
		}
	}
	if !full {
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "type"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: "object"},
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "properties"}, n,
		}}
	}
	return f.st2Schema(n, field)
}
