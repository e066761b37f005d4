package packloader

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"gopkg.in/yaml.v3"
)

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
		defaults := l.st2ConfigKeys(f, root, "")
		if len(defaults) == 0 {
			return
		}
		l.p.Config = toJSON(defaults)
		f.secretsInConfig(root, "") // a default named like a password is one, marked or not
	})
}

// st2ConfigKeys reads a mapping of config key → schema and returns the defaults it gives.
func (l *loader) st2ConfigKeys(f fileProblems, n *yaml.Node, field string) map[string]any {
	out := map[string]any{}
	for _, e := range f.entries(n, field) {
		if !st2ParamName.MatchString(e.key) {
			f.at(e.k, join(field, e.key), "%q is not a config key: letters, digits and _", e.key)
			continue
		}
		if v, ok := l.st2ConfigKey(f, e.v, join(field, e.key)); ok {
			out[e.key] = v
		}
	}
	return out
}

// st2ConfigObjectKeywords are what a config key's schema may hold beyond a parameter's: the
// JSON Schema of an object value (patternProperties describes keys the operator names, such as
// one entry per database connection), and format (which StackStorm does not check in configs
// either).
var st2ConfigObjectKeywords = []string{"properties", "additionalProperties", "patternProperties", "format"}

// st2ConfigKey reads the schema of one config key and returns its default (with the defaults
// of its properties when it is an object); ok is false when it has none.
func (l *loader) st2ConfigKey(f fileProblems, n *yaml.Node, field string) (any, bool) {
	if n = resolve(n); n.Kind != yaml.MappingNode {
		f.at(n, field, "want the key's schema (a mapping), got %s", describe(n))
		return nil, false
	}
	// The keywords a parameter has are read as a StackStorm parameter's (st2Param); the
	// default is read here, where a config's rules for secrets and templates apply.
	asParam := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column}
	var def, props, additional *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == "default":
			def = resolve(v)
		case k.Value == "properties":
			props = resolve(v)
		case k.Value == "additionalProperties":
			additional = resolve(v)
		case slices.Contains(st2ConfigObjectKeywords, k.Value):
		default:
			asParam.Content = append(asParam.Content, k, v)
		}
	}
	p := f.st2Param(asParam, field, false)
	if additional != nil && additional.Kind == yaml.ScalarNode && additional.ShortTag() != "!!bool" {
		f.at(additional, join(field, "additionalProperties"), "want true, false or a schema, got %s", describe(additional))
	}
	nested := map[string]any{}
	if props != nil {
		if props.Kind != yaml.MappingNode {
			f.at(props, join(field, "properties"), "want a mapping of property to its schema, got %s", describe(props))
		} else {
			nested = l.st2ConfigKeys(f, props, join(field, "properties"))
		}
	}
	if isNull(def) {
		return nested, len(nested) > 0
	}
	v, ok := f.value(def, join(field, "default"))
	switch {
	case !ok:
		return nil, false
	case p.Secret && v != "":
		f.at(def, join(field, "default"), "a secret config key has no default in Attune: the pack's config is written into the event log, which is immutable, so a secret written there could never be taken back; pass the secret as a secret action parameter or keep it in the key-value store")
		return nil, false
	case p.Secret:
		return nil, false // an empty secret is no value: self.config has no key
	case hasTemplate(v):
		// StackStorm renders a config's templates ({{ st2kv.system.x }}) when it loads the
		// config; Attune records the config as written, so the template would reach
		// self.config as text.
		l.warn("%s:%d: %s: the default %s is a template, which StackStorm renders when it loads the config and Attune does not: the key is left out of the pack's config", f.file, def.Line, join(field, "default"), fmt.Sprint(v))
		return nil, false
	}
	f.check(def, join(field, "default"), p, v)
	if m, isMap := v.(map[string]any); isMap {
		for k, nv := range nested {
			if _, set := m[k]; !set {
				m[k] = nv
			}
		}
	}
	return v, true
}
