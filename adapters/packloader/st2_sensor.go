package packloader

import (
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// st2SensorFields are the fields of a StackStorm sensor's metadata (sensors/<name>.yaml): the
// SensorTypeAPI's, plus class_name, the Python class of entry_point that is the sensor.
var st2SensorFields = []string{
	"class_name", "name", "entry_point", "description", "enabled", "poll_interval", "trigger_types",
	"pack", "ref", "uid", "artifact_uri", "tags",
}

// readST2Sensor reads a StackStorm sensor: a Python class (class_name) in entry_point, run by
// the st2reactor stand-in (adapters/runtime/st2py), and the trigger types it dispatches,
// declared inline, which become the pack's sensor triggers. The sensor's ref is
// <pack>.<class_name>, as StackStorm names it.
func (l *loader) readST2Sensor(f fileProblems, root *yaml.Node) {
	o := f.object(root, "", st2SensorFields...)
	var s pack.Sensor
	s.ClassName = o.needStr("class_name")
	if n := o.get("name"); n != nil && o.str("name") != s.ClassName {
		f.at(n, "name", "%q differs from class_name %q: StackStorm names a sensor by its class", o.str("name"), s.ClassName)
	}
	if s.ClassName != "" {
		// The class name is the sensor's name, claimed like any other.
		named := object{f: f, n: o.n, prefix: "", vals: map[string]*yaml.Node{"name": o.get("class_name")}}
		s.Name, s.Ref = l.name(f, named, pack.KindSensor)
		if s.Ref != "" && !isPythonIdentifier(s.ClassName) {
			f.at(o.get("class_name"), "class_name", "%q is not a Python class name", s.ClassName)
		}
	}
	l.st2Meta(f, o, s.Ref)
	if n := o.get("artifact_uri"); n != nil {
		f.at(n, "artifact_uri", "a sensor's code is its entry_point in the pack; artifact_uri (a file outside it) is not loaded")
	}
	s.Description = o.str("description")
	s.Enabled = o.boolean("enabled", true)
	s.PollIntervalSeconds = o.integer("poll_interval", 0)
	s.RunnerType = pack.RunnerPython
	if ep, data, ok := l.entryPoint(f, o, "sensors"); ok {
		s.EntryPoint, s.EntryPointSHA256 = ep, digestOf(data)
		if !strings.HasSuffix(ep, ".py") {
			f.at(o.get("entry_point"), "entry_point", "%q is not a Python module: a StackStorm sensor is a class in a .py file", ep)
		}
	}
	types := o.need("trigger_types")
	switch {
	case types == nil:
	case types.Kind != yaml.SequenceNode:
		f.at(types, "trigger_types", "want a list of trigger types, got %s", describe(types))
	case len(types.Content) == 0:
		f.at(types, "trigger_types", "a sensor dispatches at least one trigger type of its own: Attune accepts from a sensor only the triggers it declares")
	default:
		for i, n := range types.Content {
			if t, ok := l.st2TriggerType(f, resolve(n), index("trigger_types", i)); ok {
				s.Triggers = append(s.Triggers, t.Ref)
				l.p.Triggers = append(l.p.Triggers, t)
			}
		}
	}
	l.p.Sensors = append(l.p.Sensors, s)
}

// st2TriggerType reads one entry of a sensor's trigger_types: a trigger of type sensor.
func (l *loader) st2TriggerType(f fileProblems, n *yaml.Node, field string) (pack.Trigger, bool) {
	o := f.object(n, field, "name", "description", "payload_schema", "parameters_schema", "tags", "pack")
	if o.n == nil {
		return pack.Trigger{}, false
	}
	t := pack.Trigger{Type: pack.TriggerSensor}
	named := object{f: f, n: o.n, prefix: field, vals: map[string]*yaml.Node{"name": o.get("name")}}
	t.Name, t.Ref = l.name(f, named, pack.KindTrigger)
	t.Description = o.str("description")
	l.st2Meta(f, o, "")
	// A rule on the trigger passes it parameters (trigger: {type, parameters}): the sensor
	// gets one add_trigger per such rule, and what it dispatches for that trigger is for that
	// rule alone (adapters/sensor/process, Instance).
	t.ParametersSchema = f.jsonSchemaParameters(o.get("parameters_schema"), o.field("parameters_schema"))
	t.PayloadSchema = f.jsonSchemaObject(o.get("payload_schema"), o.field("payload_schema"))
	return t, t.Ref != ""
}

// jsonSchemaObject reads a JSON Schema of an object (StackStorm's payload_schema:
// {type: object, properties: {...}, required: [...]}) as Attune's flat schema of its fields.
func (f fileProblems) jsonSchemaObject(n *yaml.Node, field string) pack.Params {
	return f.jsonSchema(n, field, false)
}

// jsonSchemaParameters is jsonSchemaObject for a trigger's parameters_schema, where
// additionalProperties: false holds: every rule's trigger parameters are checked at load
// against the names declared (resolveRule), so an undeclared one is refused.
func (f fileProblems) jsonSchemaParameters(n *yaml.Node, field string) pack.Params {
	return f.jsonSchema(n, field, true)
}

func (f fileProblems) jsonSchema(n *yaml.Node, field string, closed bool) pack.Params {
	if n == nil {
		return nil
	}
	o := f.object(n, field, "type", "properties", "required", "additionalProperties", "description", "title", "$schema")
	if t := o.str("type"); t != "" && t != "object" {
		f.at(o.get("type"), o.field("type"), "a payload is an object: want type object, got %q", t)
	}
	if a := o.get("additionalProperties"); a != nil && !o.boolean("additionalProperties", true) && !closed {
		f.at(a, o.field("additionalProperties"), "false is not enforced on a payload (fields a schema does not name pass, as in StackStorm's rules): remove it")
	}
	// JSON Schema's keywords: minLength, …; and the rest (format, nested properties, oneOf),
	// kept in Param.Schema, which the payload's check applies (adapters/paramschema).
	params := f.st2ActionParams(o.get("properties"), o.field("properties"))
	for _, it := range o.strs("required") {
		p, ok := params[it.s]
		if !ok {
			f.at(it.n, it.field, "%q is not one of the properties", it.s)
			continue
		}
		p.Required = true
		params[it.s] = p
	}
	return params
}

// st2Meta checks the StackStorm metadata a component may carry: pack must be this pack, ref
// and uid must be what StackStorm derives (<pack>.<name>, <kind>:<pack>:<name>); tags are
// kept by StackStorm for search only, accepted as such.
func (l *loader) st2Meta(f fileProblems, o object, ref string) {
	if p := o.str("pack"); p != "" && l.refOK && p != l.p.Ref {
		f.at(o.get("pack"), o.field("pack"), "%q is not this pack (%s)", p, l.p.Ref)
	}
	if r := o.str("ref"); r != "" && ref != "" && r != ref {
		f.at(o.get("ref"), o.field("ref"), "%q differs from the ref StackStorm derives, %s", r, ref)
	}
	if u := o.str("uid"); u != "" && ref != "" {
		packRef, nm, _ := cutRef(ref)
		if want := fmt.Sprintf("sensor_type:%s:%s", packRef, nm); u != want {
			f.at(o.get("uid"), o.field("uid"), "%q differs from the uid StackStorm derives, %s", u, want)
		}
	}
	if t := o.get("tags"); t != nil && t.Kind != yaml.SequenceNode {
		f.at(t, o.field("tags"), "want a list, got %s", describe(t))
	}
}

func isPythonIdentifier(s string) bool {
	for i, r := range s {
		ok := r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || (i > 0 && '0' <= r && r <= '9')
		if !ok {
			return false
		}
	}
	return s != "" && path.Base(s) == s
}
