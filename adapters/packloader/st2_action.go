package packloader

import (
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
	for key, why := range map[string]string{
		"id":            "StackStorm's database sets it; remove it",
		"notify":        "notifications are not supported yet",
		"output_schema": "output_schema is not supported yet",
	} {
		if n := o.get(key); n != nil {
			f.at(n, key, "%s", why)
		}
	}
	a.Parameters = f.st2Params(o.get("parameters"), "parameters")
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
	switch {
	case runner.IsWorkflow():
		// orquesta and action-chain definitions are the workflow loader's (st2_workflow.go).
		if !l.st2Workflow(f, o, &a) {
			return
		}
	case runner == pack.RunnerInquirer || runner == pack.RunnerNoop:
		if n := o.get("entry_point"); n != nil && n.Value != "" {
			f.at(n, "entry_point", "a %s action has no entry point", runner)
		}
	case runner == pack.RunnerLocalShellCmd || runner == pack.RunnerHTTPRequest:
		// Their entry point, when a pack writes one, is unused by StackStorm too: these
		// runners run their parameters (cmd, url).
		if n := o.get("entry_point"); n != nil && n.Value != "" {
			f.at(n, "entry_point", "a %s action runs its parameters, not a file: remove entry_point", runner)
		}
	default:
		if ep, data, ok := l.entryPoint(f, o, "actions"); ok {
			a.EntryPoint, a.EntryPointSHA256 = ep, digestOf(data)
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
