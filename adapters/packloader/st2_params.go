package packloader

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// st2ParamFields are the keywords of a StackStorm parameter: JSON Schema's (camelCase, as
// StackStorm writes them) and StackStorm's own (position, immutable, secret, required).
var st2ParamFields = []string{
	"type", "description", "title", "required", "secret", "immutable", "default", "enum",
	"pattern", "minimum", "maximum", "minLength", "maxLength", "items", "minItems", "maxItems",
	"position",
	// JSON Schema's other keywords: recorded whole in Param.Schema and checked by the worker.
	"properties", "additionalProperties", "patternProperties", "uniqueItems", "format",
	"minProperties", "maxProperties", "oneOf", "anyOf", "allOf", "not", "exclusiveMinimum",
	"exclusiveMaximum", "multipleOf", "dependencies",
}

// st2SchemaOnly are the keywords pack.Param has no field for: a parameter with one of them (or
// a list of types) keeps its whole schema in Param.Schema.
var st2SchemaOnly = st2ParamFields[slices.Index(st2ParamFields, "properties"):]

// st2ParamName is StackStorm's pattern for a parameter's name (^\w+$).
var st2ParamName = regexp.MustCompile(`^\w+$`)

// st2ActionParams decodes a StackStorm parameters mapping (an action's parameters, a trigger's
// payload or parameters schema): name → JSON Schema with StackStorm's keywords; JSON Schema's
// other keywords are kept in Param.Schema, which the worker (parameters) and the sensors and
// webhooks (payloads) check with adapters/paramschema. Positions must be distinct: two
// parameters at one place on a command line would depend on map order.
func (f fileProblems) st2ActionParams(n *yaml.Node, field string) pack.Params {
	return f.st2ParamsOf(n, field, true)
}

func (f fileProblems) st2ParamsOf(n *yaml.Node, field string, schema bool) pack.Params {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, field, "want a mapping of parameter name to spec, got %s", describe(n))
		return nil
	}
	out := pack.Params{}
	positions := map[int]string{}
	for _, e := range f.entries(n, field) {
		if !st2ParamName.MatchString(e.key) {
			f.at(e.k, join(field, e.key), "%q is not a parameter name: letters, digits and _", e.key)
			continue
		}
		p := f.st2Param(e.v, join(field, e.key), schema)
		if p.Position != nil {
			if other, dup := positions[*p.Position]; dup {
				f.at(child(e.v, "position"), join(field, e.key)+".position", "position %d is already %s's", *p.Position, other)
			}
			positions[*p.Position] = e.key
		}
		out[e.key] = p
	}
	return out
}

// st2Param decodes one StackStorm parameter.
func (f fileProblems) st2Param(n *yaml.Node, field string, schema bool) pack.Param {
	fields := st2ParamFields
	if !schema {
		fields = st2ParamFields[:len(st2ParamFields)-len(st2SchemaOnly)]
	}
	o := f.object(n, field, fields...)
	var p pack.Param
	typeList := false
	if t := o.get("type"); t != nil {
		if t.Kind == yaml.SequenceNode {
			typeList = true
			for i, c := range t.Content {
				if _, err := pack.ParseParamType(f.str(resolve(c), index(o.field("type"), i))); err != nil {
					f.at(c, index(o.field("type"), i), "%s", err.Error())
				}
			}
		} else if s := o.str("type"); s != "" {
			typ, err := pack.ParseParamType(s)
			if err != nil {
				f.at(t, o.field("type"), "%s", err.Error())
			}
			p.Type = typ
		}
	}
	p.Description = o.str("description")
	if title := o.str("title"); p.Description == "" {
		p.Description = title
	}
	p.Required = o.boolean("required", false)
	p.Secret = o.boolean("secret", false)
	p.Immutable = o.boolean("immutable", false)
	p.Minimum, p.Maximum = o.number("minimum"), o.number("maximum")
	if p.Pattern = o.str("pattern"); p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			f.at(o.get("pattern"), o.field("pattern"), "bad regular expression (Go's RE2 syntax): %v", err)
			p.Pattern = ""
		}
	}
	p.MinLength = f.optInt(o, "minLength")
	p.MaxLength = f.optInt(o, "maxLength")
	p.MinItems = f.optInt(o, "minItems")
	p.MaxItems = f.optInt(o, "maxItems")
	p.Position = f.optInt(o, "position")
	f.keywordsFitType(o, p, st2ParamFields)
	for _, pair := range [][2]string{{"minimum", "maximum"}, {"minLength", "maxLength"}, {"minItems", "maxItems"}} {
		lo, hi := o.number(pair[0]), o.number(pair[1])
		if lo != nil && hi != nil && *lo > *hi {
			f.at(o.get(pair[1]), o.field(pair[1]), "is below %s", pair[0])
		}
	}
	itemSchema := false
	if items := o.get("items"); items != nil {
		item := f.st2Param(items, o.field("items"), schema)
		p.Items, itemSchema = toJSON(item), item.Schema != nil
	}
	if en := o.get("enum"); en != nil {
		p.Enum = f.enum(en, o.field("enum"), p)
	}
	switch {
	case !schema && typeList:
		f.at(o.get("type"), o.field("type"), "a list of types is not supported here: give one type")
	case typeList || itemSchema || slices.ContainsFunc(st2SchemaOnly, func(k string) bool { return o.get(k) != nil }):
		p.Schema = f.st2Schema(n, field)
	}
	if def := o.get("default"); def != nil {
		if v, ok := f.value(def, o.field("default")); ok {
			switch {
			case p.Secret && !hasTemplate(v):
				f.at(def, o.field("default"), "a secret parameter's default must be a template ({{ st2kv.system.x | decrypt_kv }}, {{ config_context.x }}): the event log is immutable, so a secret written into it could never be taken back")
			default:
				// StackStorm does not check a default against its parameter (packs ship
				// `type: string` with `default: false`): such a default is kept and named in
				// a warning, and the worker passes it as written, as StackStorm does.
				q := fileProblems{&problems{}, f.file}
				q.check(def, o.field("default"), p, v)
				for _, e := range q.errs {
					var fe *FileError
					if errors.As(e, &fe) {
						f.warnAt(f.file, def, fe.Field, "%s (StackStorm does not check defaults; the default is passed as written)", fe.Msg)
					}
				}
				p.Default = toJSON(v)
			}
		}
	}
	return p
}

// optInt reads a non-negative integer keyword.
func (f fileProblems) optInt(o object, key string) *int {
	if v, ok := f.integer(o.get(key), o.field(key), 0); ok {
		return &v
	}
	return nil
}

// st2Schema is a StackStorm parameter as a draft-4 JSON Schema: StackStorm's own keywords
// (position, immutable, secret) left out, and its draft-3 `required: true` on a property
// turned into the object's required list. It is compiled here, so a schema the worker could
// not check is refused at load.
func (f fileProblems) st2Schema(n *yaml.Node, field string) json.RawMessage {
	v, ok := f.quiet().value(n, field)
	if !ok {
		return nil
	}
	raw := toJSON(draft4(v))
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err == nil {
		err = c.AddResource("param.json", doc)
	}
	if err == nil {
		_, err = c.Compile("param.json")
	}
	if err != nil {
		f.at(n, field, "not a JSON Schema the worker can check: %v", err)
		return nil
	}
	return raw
}

// draft4 rewrites a StackStorm schema value into draft 4 (see st2Schema).
func draft4(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = draft4(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "position", "immutable", "secret":
				continue
			case "required":
				if _, isBool := e.(bool); isBool {
					continue
				}
			case "properties":
				if props, ok := e.(map[string]any); ok {
					var required []any
					for _, name := range slices.Sorted(maps.Keys(props)) {
						if spec, ok := props[name].(map[string]any); ok && spec["required"] == true {
							required = append(required, name)
						}
					}
					if len(required) > 0 {
						out["required"] = required
					}
				}
			}
			if k == "properties" || k == "patternProperties" {
				if props, ok := e.(map[string]any); ok {
					m := map[string]any{}
					for name, spec := range props {
						m[name] = draft4(spec)
					}
					out[k] = m
					continue
				}
			}
			out[k] = draft4(e)
		}
		return out
	}
	return v
}
