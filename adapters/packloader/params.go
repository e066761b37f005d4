package packloader

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

var paramFields = []string{
	"type", "description", "required", "secret", "immutable", "default", "enum",
	"pattern", "minimum", "maximum", "min_length", "max_length", "items",
}

// params decodes a flat parameter schema: name → spec.
func (f fileProblems) params(n *yaml.Node, field string) pack.Params {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, field, "want a mapping of parameter name to spec, got %s", describe(n))
		return nil
	}
	out := pack.Params{}
	for _, e := range f.entries(n, field) {
		if e.key == "" {
			f.at(e.k, field, "a parameter needs a name")
			continue
		}
		out[e.key] = f.param(e.v, join(field, e.key))
	}
	return out
}

// param decodes one spec and checks it is consistent: keywords that fit its type, a default
// and enum values that satisfy it, no default for a secret.
func (f fileProblems) param(n *yaml.Node, field string) pack.Param {
	o := f.object(n, field, paramFields...)
	var p pack.Param
	if t := o.str("type"); t != "" {
		typ, err := pack.ParseParamType(t)
		if err != nil {
			f.at(o.get("type"), o.field("type"), "%s", err.Error())
		}
		p.Type = typ
	}
	p.Description = o.str("description")
	p.Required = o.boolean("required", false)
	p.Secret = o.boolean("secret", false)
	p.Immutable = o.boolean("immutable", false)
	p.Minimum, p.Maximum = o.number("minimum"), o.number("maximum")
	if p.Pattern = o.str("pattern"); p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			f.at(o.get("pattern"), o.field("pattern"), "bad regular expression: %v", err)
			p.Pattern = ""
		}
	}
	if v, ok := f.integer(o.get("min_length"), o.field("min_length"), 0); ok {
		p.MinLength = &v
	}
	if v, ok := f.integer(o.get("max_length"), o.field("max_length"), 0); ok {
		p.MaxLength = &v
	}
	f.keywordsFitType(o, p, paramFields)
	if p.Minimum != nil && p.Maximum != nil && *p.Minimum > *p.Maximum {
		f.at(o.get("maximum"), o.field("maximum"), "is below minimum")
	}
	if p.MinLength != nil && p.MaxLength != nil && *p.MinLength > *p.MaxLength {
		f.at(o.get("max_length"), o.field("max_length"), "is below min_length")
	}
	if items := o.get("items"); items != nil {
		p.Items = toJSON(f.param(items, o.field("items")))
	}
	if en := o.get("enum"); en != nil {
		p.Enum = f.enum(en, o.field("enum"), p)
	}
	if def := o.get("default"); def != nil {
		switch {
		case p.Secret:
			f.at(def, o.field("default"), "a secret parameter has no default: the event log is immutable, so a secret written into it could never be taken back")
		default:
			if v, ok := f.value(def, o.field("default")); ok {
				f.check(def, o.field("default"), p, v)
				p.Default = toJSON(v)
			}
		}
	}
	if p.Immutable && p.Default == nil && o.get("default") == nil {
		f.at(o.get("immutable"), o.field("immutable"), "an immutable parameter needs a default")
	}
	return p
}

// keywordTypes are the types each type-specific keyword applies to, in both dialects'
// spellings (Attune's min_length, StackStorm's minLength).
var keywordTypes = map[string][]pack.ParamType{
	"pattern":    {pack.ParamString},
	"min_length": {pack.ParamString},
	"max_length": {pack.ParamString},
	"minLength":  {pack.ParamString},
	"maxLength":  {pack.ParamString},
	"minimum":    {pack.ParamInteger, pack.ParamNumber},
	"maximum":    {pack.ParamInteger, pack.ParamNumber},
	"items":      {pack.ParamArray},
	"minItems":   {pack.ParamArray},
	"maxItems":   {pack.ParamArray},
}

// keywordsFitType reports keywords (of fields, the dialect's, in that order) that can never
// apply to the declared type, usually a sign the type is wrong.
func (f fileProblems) keywordsFitType(o object, p pack.Param, fields []string) {
	if p.Type == "" {
		return
	}
	for _, key := range fields {
		if types, ok := keywordTypes[key]; ok && o.get(key) != nil && !slices.Contains(types, p.Type) {
			f.at(o.get(key), o.field(key), "does not apply to type %s", p.Type)
		}
	}
}

func (f fileProblems) enum(n *yaml.Node, field string, p pack.Param) []json.RawMessage {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		f.at(n, field, "want a non-empty list of allowed values, got %s", describe(n))
		return nil
	}
	var out []json.RawMessage
	for i, item := range n.Content {
		if v, ok := f.value(item, index(field, i)); ok {
			f.check(item, index(field, i), p, v) // p has no Enum yet: checks type and bounds
			out = append(out, toJSON(v))
		}
	}
	return out
}

// check reports where value v (written at n) breaks spec p, with pack's rules (Param.Check)
// worded for a pack author, each element of a list at its own line. A value that is one
// template ("{{ event.payload.x }}") keeps the JSON type it renders to, unknown until then,
// so it is not checked; a string with a template inside is a string of unknown content.
func (f fileProblems) check(n *yaml.Node, field string, p pack.Param, v any) {
	n = resolve(n)
	if s, ok := v.(string); ok && wholeTemplate(s) {
		return
	}
	if hasTemplate(v) {
		// Known only once rendered: the content. Known now: the type.
		p.Enum, p.Pattern, p.MinLength, p.MaxLength = nil, "", nil, nil
	}
	p.Secret = false // a pack file's own values are no secret: show them as written
	if e := p.Check(field, toValue(v)); e != nil {
		f.at(n, field, "%s", reason(e, n, p, v))
		return
	}
	x, isList := v.([]any)
	if !isList || p.Items == nil || n.Kind != yaml.SequenceNode {
		return
	}
	item, err := p.Item()
	if err != nil {
		return // written by param above; cannot happen
	}
	for i, e := range x {
		f.check(n.Content[i], index(field, i), item, e)
	}
}

// reason words a problem for a pack author, with the YAML as written: `want an integer, got
// "three"`.
func reason(e *pack.ParamError, n *yaml.Node, p pack.Param, v any) string {
	switch e.Keyword {
	case pack.KeywordType:
		return fmt.Sprintf("want %s, got %s", typeName(p.Type), describe(n))
	case pack.KeywordPattern:
		return fmt.Sprintf("%q does not match pattern %q", v, p.Pattern)
	case pack.KeywordMinLength:
		return fmt.Sprintf("is %d characters long, at least %d wanted", utf8.RuneCountInString(v.(string)), *p.MinLength)
	case pack.KeywordMaxLength:
		return fmt.Sprintf("is %d characters long, at most %d wanted", utf8.RuneCountInString(v.(string)), *p.MaxLength)
	}
	return e.Reason
}

// toValue re-reads a value produced by value the way pack checks values: numbers as
// json.Number.
func toValue(v any) any {
	out, err := pack.DecodeValue(toJSON(v))
	if err != nil {
		// toJSON writes one JSON value; anything else is a bug in this package.
		panic(fmt.Sprintf("packloader: re-read %s: %v", toJSON(v), err))
	}
	return out
}

func typeName(t pack.ParamType) string {
	switch t {
	case pack.ParamString:
		return "a string"
	case pack.ParamInteger:
		return "an integer"
	case pack.ParamNumber:
		return "a number"
	case pack.ParamBoolean:
		return "true or false"
	case pack.ParamObject:
		return "a mapping"
	case pack.ParamArray:
		return "a list"
	}
	return string(t)
}

// wholeTemplate reports a string that is exactly one template.
func wholeTemplate(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}") && strings.Count(s, "{{") == 1
}

// hasTemplate reports a template anywhere in v.
func hasTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "{{")
	case []any:
		return slices.ContainsFunc(x, hasTemplate)
	case map[string]any:
		for _, e := range x {
			if hasTemplate(e) {
				return true
			}
		}
	}
	return false
}
