package packloader

import (
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// st2ParamFields are the keywords of a StackStorm parameter: JSON Schema's (camelCase, as
// StackStorm writes them) and StackStorm's own (position, immutable, secret, required).
var st2ParamFields = []string{
	"type", "description", "title", "required", "secret", "immutable", "default", "enum",
	"pattern", "minimum", "maximum", "minLength", "maxLength", "items", "minItems", "maxItems",
	"position",
}

// st2ParamName is StackStorm's pattern for a parameter's name (^\w+$).
var st2ParamName = regexp.MustCompile(`^\w+$`)

// st2Params decodes a StackStorm parameters mapping: name → JSON Schema with StackStorm's
// keywords. Positions must be distinct: two parameters at one place on a command line would
// depend on map order.
func (f fileProblems) st2Params(n *yaml.Node, field string) pack.Params {
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
		p := f.st2Param(e.v, join(field, e.key))
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
func (f fileProblems) st2Param(n *yaml.Node, field string) pack.Param {
	o := f.object(n, field, st2ParamFields...)
	var p pack.Param
	if t := o.get("type"); t != nil {
		if t.Kind == yaml.SequenceNode {
			f.at(t, o.field("type"), "a list of types is not supported: give one type")
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
	f.st2KeywordsFitType(o, p)
	for _, pair := range [][2]string{{"minimum", "maximum"}, {"minLength", "maxLength"}, {"minItems", "maxItems"}} {
		lo, hi := o.number(pair[0]), o.number(pair[1])
		if lo != nil && hi != nil && *lo > *hi {
			f.at(o.get(pair[1]), o.field(pair[1]), "is below %s", pair[0])
		}
	}
	if items := o.get("items"); items != nil {
		p.Items = toJSON(f.st2Param(items, o.field("items")))
	}
	if en := o.get("enum"); en != nil {
		p.Enum = f.enum(en, o.field("enum"), p)
	}
	if def := o.get("default"); def != nil {
		if v, ok := f.value(def, o.field("default")); ok {
			switch {
			case p.Secret && !hasTemplate(v):
				f.at(def, o.field("default"), "a secret parameter's default must be a template ({{ st2kv.system.x | decrypt_kv }}, {{ config_context.x }}): the event log is immutable, so a secret written into it could never be taken back")
			default:
				f.check(def, o.field("default"), p, v)
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

// st2KeywordsFitType reports keywords that can never apply to the declared type.
func (f fileProblems) st2KeywordsFitType(o object, p pack.Param) {
	if p.Type == "" {
		return
	}
	fits := map[string][]pack.ParamType{
		"pattern":   {pack.ParamString},
		"minLength": {pack.ParamString},
		"maxLength": {pack.ParamString},
		"minimum":   {pack.ParamInteger, pack.ParamNumber},
		"maximum":   {pack.ParamInteger, pack.ParamNumber},
		"items":     {pack.ParamArray},
		"minItems":  {pack.ParamArray},
		"maxItems":  {pack.ParamArray},
	}
	for _, key := range st2ParamFields {
		if types, ok := fits[key]; ok && o.get(key) != nil && !slices.Contains(types, p.Type) {
			f.at(o.get(key), o.field(key), "does not apply to type %s", p.Type)
		}
	}
}
