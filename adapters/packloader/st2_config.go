package packloader

import (
	"errors"
	"io/fs"
	"path"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// st2ConfigKeywords are the keywords of one key of a StackStorm config.schema.yaml: a JSON
// Schema of the value, plus StackStorm's required and secret flags.
var st2ConfigKeywords = []string{
	"type", "description", "default", "required", "secret", "enum", "items", "properties",
	"additionalProperties", "minimum", "maximum", "minLength", "maxLength", "pattern", "format",
	"title", "immutable",
}

// readST2Config reads the StackStorm pack's config.schema.yaml, when it has one: the
// defaults it declares are the pack's config ({{ config.x }}, a sensor's self.config, a
// python action's self.config), as StackStorm fills them in where the operator's config file
// says nothing. A key without a default (a secret, a value only the operator knows) is left
// out of the config; a secret key with a non-empty default is refused, since the config is
// written into the immutable event log.
func (l *loader) readST2Config() {
	file := path.Join(l.dir, "config.schema.yaml")
	if _, err := fs.Stat(l.fsys, file); errors.Is(err, fs.ErrNotExist) {
		return
	}
	l.readFile("config.schema.yaml", func(f fileProblems, root *yaml.Node) {
		if isNull(root) {
			return
		}
		if root.Kind != yaml.MappingNode {
			f.at(root, "", "want a mapping of config key to its schema, got %s", describe(root))
			return
		}
		defaults := map[string]any{}
		for _, e := range f.entries(root, "") {
			if v, ok := f.st2ConfigKey(e.v, e.key); ok {
				defaults[e.key] = v
			}
		}
		if len(defaults) == 0 {
			return
		}
		l.p.Config = toJSON(defaults)
		f.secretsInConfig(root, "") // a default named like a password is one, marked or not
	})
}

var configKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// st2ConfigKey reads the schema of one config key and returns its default (with the defaults
// of its properties when it is an object), ok false when there is none.
func (f fileProblems) st2ConfigKey(n *yaml.Node, field string) (any, bool) {
	o := f.object(n, field, st2ConfigKeywords...)
	if o.n == nil {
		return nil, false
	}
	p := pack.Param{Secret: o.boolean("secret", false), Required: o.boolean("required", false)}
	if t := o.str("type"); t != "" {
		typ, err := pack.ParseParamType(t)
		if err != nil {
			f.at(o.get("type"), o.field("type"), "%s", err.Error())
		}
		p.Type = typ
	}
	p.Minimum, p.Maximum = o.number("minimum"), o.number("maximum")
	if v, ok := f.integer(o.get("minLength"), o.field("minLength"), 0); ok {
		p.MinLength = &v
	}
	if v, ok := f.integer(o.get("maxLength"), o.field("maxLength"), 0); ok {
		p.MaxLength = &v
	}
	if p.Pattern = o.str("pattern"); p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			f.at(o.get("pattern"), o.field("pattern"), "bad regular expression: %v", err)
			p.Pattern = ""
		}
	}
	if en := o.get("enum"); en != nil {
		p.Enum = f.enum(en, o.field("enum"), p)
	}
	_ = o.str("description")
	_ = o.str("title")
	_ = o.str("format") // StackStorm does not check formats of config values either
	_ = o.boolean("immutable", false)
	if a := o.get("additionalProperties"); a != nil && a.Kind == yaml.ScalarNode {
		_ = o.boolean("additionalProperties", true)
	}
	if items := o.get("items"); items != nil && p.Type != "" && p.Type != pack.ParamArray {
		f.at(items, o.field("items"), "does not apply to type %s", p.Type)
	}
	// An object's own properties, each with its default: StackStorm fills nested defaults.
	nested := map[string]any{}
	if props := o.get("properties"); props != nil {
		if props.Kind != yaml.MappingNode {
			f.at(props, o.field("properties"), "want a mapping of property to its schema, got %s", describe(props))
		} else {
			for _, e := range f.entries(props, o.field("properties")) {
				if !configKey.MatchString(e.key) {
					f.at(e.k, join(o.field("properties"), e.key), "%q is not a config key", e.key)
					continue
				}
				if v, ok := f.st2ConfigKey(e.v, join(o.field("properties"), e.key)); ok {
					nested[e.key] = v
				}
			}
		}
	}
	def := o.get("default")
	if def == nil {
		if len(nested) > 0 {
			return nested, true
		}
		return nil, false
	}
	v, ok := f.value(def, o.field("default"))
	if !ok {
		return nil, false
	}
	if p.Secret {
		if s, isStr := v.(string); !isStr || s != "" {
			f.at(def, o.field("default"), "a secret config key has no default in Attune: the pack's config is written into the event log, which is immutable, so a secret written there could never be taken back; pass the secret as a secret action parameter or keep it in the key-value store")
			return nil, false
		}
		return nil, false // an empty secret is no value: self.config has no key
	}
	f.check(def, o.field("default"), p, v)
	if m, isMap := v.(map[string]any); isMap {
		for k, nv := range nested {
			if _, set := m[k]; !set {
				m[k] = nv
			}
		}
	}
	return v, true
}
