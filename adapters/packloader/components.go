package packloader

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

func (l *loader) readAction(f fileProblems, root *yaml.Node) {
	if l.st2 {
		l.readSt2Action(f, root)
		return
	}
	o := f.object(root, "", "name", "description", "runner_type", "entry_point", "timeout", "parameters")
	var a pack.Action
	a.Name, a.Ref = l.name(f, o, pack.KindAction)
	a.Description = o.str("description")
	a.TimeoutSeconds = o.integer("timeout", 0)
	a.Parameters = f.params(o.get("parameters"), "parameters")
	rt := o.needStr("runner_type")
	if rt == "" {
		return
	}
	runner, err := pack.ParseRunnerType(rt)
	if err != nil {
		f.at(o.get("runner_type"), "runner_type", "%s", err.Error())
		return
	}
	a.RunnerType = runner
	switch runner {
	case pack.RunnerBuiltin:
		// A builtin is Go code in the worker, found by the action's ref: only the binary's
		// own pack can name one that exists.
		if !l.isCore {
			f.at(o.get("runner_type"), "runner_type", "builtin actions are built into attune and come only with the core pack")
		}
		if o.get("entry_point") != nil {
			f.at(o.get("entry_point"), "entry_point", "a builtin action has no entry point")
		}
	case pack.RunnerWorkflow:
		ep, data, ok := l.entryPoint(f, o, "actions")
		if !ok {
			break
		}
		a.EntryPoint, a.EntryPointSHA256 = ep, digestOf(data)
		// The definition is recorded in the event so the engine runs what was registered,
		// validated by the engine's own parser (checkWorkflow).
		wf := fileProblems{f.problems, path.Join(l.dir, "actions", ep)}
		if n := l.parse(wf, data); n != nil {
			if n.Kind != yaml.MappingNode {
				wf.at(n, "", "want a mapping (a workflow definition), got %s", describe(n))
			} else if v, ok := wf.value(n, ""); ok {
				a.Workflow = toJSON(v)
				l.checkWorkflow(wf, n, a)
			}
		}
	default:
		if ep, data, ok := l.entryPoint(f, o, "actions"); ok {
			a.EntryPoint, a.EntryPointSHA256 = ep, digestOf(data)
		}
	}
	l.p.Actions = append(l.p.Actions, a)
}

func (l *loader) readTrigger(f fileProblems, root *yaml.Node) {
	if l.st2 {
		l.readSt2Trigger(f, root)
		return
	}
	o := f.object(root, "", "name", "description", "type", "payload_schema", "parameters_schema", "rate_limit", "allow_from")
	var t pack.Trigger
	t.Name, t.Ref = l.name(f, o, pack.KindTrigger)
	t.Description = o.str("description")
	if s := o.needStr("type"); s != "" {
		typ, err := pack.ParseTriggerType(s)
		if l.isCore && s == string(pack.TriggerInternal) {
			typ, err = pack.TriggerInternal, nil // fired by the engine itself: core only
		}
		if err != nil {
			f.at(o.get("type"), "type", "%s", err.Error())
		}
		t.Type = typ
	}
	t.PayloadSchema = f.params(o.get("payload_schema"), "payload_schema")
	t.ParametersSchema = f.params(o.get("parameters_schema"), "parameters_schema")
	t.RateLimit, t.AllowFrom = f.webhookGate(o, t.Type)
	l.p.Triggers = append(l.p.Triggers, t)
}

// webhookGate reads a webhook trigger's rate_limit and allow_from; on any other trigger they
// would do nothing, so they are refused there.
func (f fileProblems) webhookGate(o object, typ pack.TriggerType) (*pack.RateLimit, []string) {
	for _, key := range []string{"rate_limit", "allow_from"} {
		if n := o.get(key); n != nil && typ != "" && typ != pack.TriggerWebhook {
			f.at(n, key, "only a webhook trigger takes %s; this is a %s trigger", key, typ)
			return nil, nil
		}
	}
	var limit *pack.RateLimit
	if n := o.get("rate_limit"); n != nil {
		if lo := f.object(n, "rate_limit", "requests", "per"); lo.n != nil {
			limit = &pack.RateLimit{Requests: lo.integer("requests", 1), Seconds: lo.integer("per", 1)}
			if lo.need("requests") == nil || lo.need("per") == nil {
				limit = nil
			}
		}
	}
	var allow []string
	for _, it := range o.strs("allow_from") {
		if _, err := pack.ParseNetwork(it.s); err != nil {
			f.at(it.n, it.field, "%v", err)
			continue
		}
		allow = append(allow, it.s)
	}
	return limit, allow
}

// sensorSource keeps what resolve needs to check a sensor's triggers.
type sensorSource struct {
	f        fileProblems
	triggers []item
}

func (l *loader) readSensor(f fileProblems, root *yaml.Node) {
	if l.st2 {
		l.readST2Sensor(f, root)
		return
	}
	o := f.object(root, "", "name", "description", "enabled", "runner_type", "entry_point", "triggers", "poll_interval")
	var s pack.Sensor
	s.Name, s.Ref = l.name(f, o, pack.KindSensor)
	s.Description = o.str("description")
	s.Enabled = o.boolean("enabled", true)
	s.PollIntervalSeconds = o.integer("poll_interval", 0)
	if rt := o.needStr("runner_type"); rt != "" {
		runner, err := pack.ParseRunnerType(rt)
		switch {
		case err != nil:
			f.at(o.get("runner_type"), "runner_type", "%s", err.Error())
		case runner == pack.RunnerBuiltin || runner == pack.RunnerWorkflow:
			f.at(o.get("runner_type"), "runner_type", "a sensor is a process: want shell, python or node, got %s", runner)
		default:
			s.RunnerType = runner
		}
	}
	if ep, data, ok := l.entryPoint(f, o, "sensors"); ok {
		s.EntryPoint, s.EntryPointSHA256 = ep, digestOf(data)
	}
	if n := o.need("triggers"); n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		f.at(n, "triggers", "a sensor emits at least one trigger")
	}
	src := sensorSource{f: f}
	for _, t := range o.strs("triggers") {
		if f.ref(t.n, t.field, t.s) {
			s.Triggers = append(s.Triggers, t.s)
			src.triggers = append(src.triggers, t)
		}
	}
	l.p.Sensors = append(l.p.Sensors, s)
	l.sensors = append(l.sensors, src)
}

// ref checks the syntax of a component ref: <pack>.<name>.
func (f fileProblems) ref(n *yaml.Node, field, ref string) bool {
	p, nm, ok := cutRef(ref)
	if !ok || !packRef.MatchString(p) || !name.MatchString(nm) {
		f.at(n, field, "%q is not a component ref: want <pack>.<name>, like core.echo", ref)
		return false
	}
	return true
}

// cutRef splits a ref at its first dot: pack refs have none, names may.
func cutRef(ref string) (packRef, name string, ok bool) {
	return strings.Cut(ref, ".")
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
