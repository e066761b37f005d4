package packloader

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// readSt2Rule reads a rule in StackStorm's shape:
//
//	name: on_push
//	pack: examples                      # checked
//	enabled: true                       # StackStorm's default is false
//	trigger: {type: core.st2.webhook, parameters: {url: github}}
//	criteria: {trigger.body.ref: {type: equals, pattern: refs/heads/main}}
//	action: {ref: core.local, parameters: {cmd: "echo {{ trigger.body.ref }}"}}
//
// It becomes a pack.Rule of dialect stackstorm: criteria paths trigger.x are the payload's
// (payload.x, the #tag that lets one path carry two criteria kept), the parameters are Jinja
// rendered by the rule engine, StackStorm's timers become Attune's.
func (l *loader) readSt2Rule(f fileProblems, root *yaml.Node) {
	before := len(l.errs)
	o := f.object(root, "", "name", "pack", "ref", "uid", "description", "enabled", "tags", "type", "trigger", "criteria", "action", "metadata_file", "context")
	r := pack.Rule{File: strings.TrimPrefix(f.file, l.dir+"/"), Dialect: pack.DialectStackStorm}
	r.Name, r.Ref = l.name(f, o, pack.KindRule)
	r.Description = o.str("description")
	r.Enabled = o.boolean("enabled", false)
	l.st2Identity(f, o, "rule", r.Ref)
	f.st2Tags(o) // labels for people: checked, not recorded
	if c := o.get("context"); c != nil {
		f.at(c, "context", "is set by StackStorm's API (the user who created the rule); Attune records who registered the pack instead")
	}
	o.str("metadata_file") // StackStorm's loader writes the rule file's own path here
	if rt := f.object(o.get("type"), "type", "ref", "parameters"); rt.n != nil {
		if ref := rt.needStr("ref"); ref != "" && ref != "standard" {
			f.at(rt.get("ref"), "type.ref", "rule type %q: Attune runs standard rules only (a backstop rule fires when no other rule matched, which Attune does not track)", ref)
		}
		if p := rt.get("parameters"); p != nil && (p.Kind != yaml.MappingNode || len(p.Content) > 0) {
			f.at(p, "type.parameters", "a standard rule type takes no parameters")
		}
	}
	src := ruleSource{f: f, root: root, tfield: "trigger.parameters", pfield: "action.parameters"}
	l.st2RuleTrigger(f, o, &r, &src)
	if a := f.object(o.need("action"), "action", "ref", "parameters", "description"); a.n != nil {
		a.str("description")
		if r.Action = a.needStr("ref"); r.Action != "" && f.ref(a.get("ref"), "action.ref", r.Action) {
			src.action = a.get("ref")
		}
		r.Parameters, src.params = f.mapping(a, "parameters")
	}
	var keys map[string]string
	r.Criteria, src.paths, keys = f.st2Criteria(o.get("criteria"))
	f.st2kvScopes(root)
	l.p.Rules = append(l.p.Rules, r)
	l.rules = append(l.rules, src)
	// Jinja is compiled by the rule evaluator, which runs it, once the rest is sound.
	if len(l.errs) == before {
		f.ruleeval(root, r, st2Path(keys))
	}
}

// st2RuleTrigger reads trigger: {type, parameters}: StackStorm's timers become Attune's, its
// webhook keeps its url, any other ref is resolved like an Attune rule's trigger.
func (l *loader) st2RuleTrigger(f fileProblems, o object, r *pack.Rule, src *ruleSource) {
	t := f.object(o.need("trigger"), "trigger", "type", "parameters", "ref", "description")
	if t.n == nil {
		return
	}
	t.str("ref")         // the TriggerDB StackStorm's API computed: recomputed here from type
	t.str("description") // a label
	typ := t.needStr("type")
	params := t.get("parameters")
	if params != nil && params.Kind != yaml.MappingNode {
		f.at(params, "trigger.parameters", "want a mapping, got %s", describe(params))
		return
	}
	switch {
	case typ == "":
		return
	case st2Timers[typ] != "":
		r.Trigger = st2Timers[typ]
		if tp, ok := st2TimerParams(f, typ, params, "trigger.parameters"); ok && tp != nil {
			r.TriggerParams = toJSON(tp)
		}
		if params == nil {
			f.at(t.n, "trigger.parameters", "%s needs parameters", typ)
		}
		return
	case slices.Contains(st2Internal, typ):
		f.at(t.get("type"), "trigger.type", "%s is StackStorm's report on itself; Attune has no such trigger (its log records executions and key changes as events, which `attune events` streams)", typ)
		return
	}
	r.Trigger = typ
	if !f.ref(t.get("type"), "trigger.type", typ) {
		return
	}
	src.trigger = t.get("type")
	if params == nil {
		return
	}
	v, _ := f.value(params, "trigger.parameters")
	if m, ok := v.(map[string]any); ok && typ == St2Webhook {
		if url, isStr := m["url"].(string); isStr {
			// StackStorm strips the slashes around a url, so /github/ and github are one hook.
			m["url"] = strings.Trim(url, "/")
		}
		src.url = hookURL(f, params)
	}
	r.TriggerParams, src.tparams = toJSON(v), params
}

// hookURLSyntax is one path segment of a URL: what /api/v1/webhooks/{url} can route.
var hookURLSyntax = regexp.MustCompile(`^[A-Za-z0-9_.~-]+$`)

// hookURL checks a StackStorm webhook's url and returns its node for the collision check.
func hookURL(f fileProblems, params *yaml.Node) *yaml.Node {
	if params == nil {
		return nil // the trigger's schema reports the missing url
	}
	for _, e := range f.quiet().entries(params, "trigger.parameters") {
		if e.key != "url" || e.v.Kind != yaml.ScalarNode {
			continue
		}
		if !hookURLSyntax.MatchString(strings.Trim(e.v.Value, "/")) {
			f.at(e.v, "trigger.parameters.url", "%q: Attune serves a webhook url of one path segment, of letters, digits, _ . ~ and - (at /api/v1/webhooks/{url}; the slashes around it are dropped, as StackStorm drops them)", e.v.Value)
			return nil
		}
		return e.v
	}
	return nil
}

// checkHookURL refuses a url that is also the ref of a webhook trigger: /api/v1/webhooks/X
// would then mean two things.
func (l *loader) checkHookURL(r ruleSource) {
	url := strings.Trim(r.url.Value, "/")
	if t, msg := l.trigger(url); msg == "" && t != nil {
		r.f.at(r.url, "trigger.parameters.url", "%q is the ref of trigger %s, which /api/v1/webhooks/%s already serves: choose another url", url, t.Ref, url)
	}
}

// st2Criteria reads criteria on trigger.* paths. A key may use StackStorm's dictionary form
// (trigger.headers['X-Event']) and end in #tag, which lets one path carry more than one
// criterion. keys maps each recorded key back to the key as written, for messages.
func (f fileProblems) st2Criteria(n *yaml.Node) (map[string]pack.Criterion, []entry, map[string]string) {
	keys := map[string]string{}
	if n == nil {
		return nil, nil, keys
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, "criteria", "want a mapping of trigger.<path> to {type, pattern}, got %s", describe(n))
		return nil, nil, keys
	}
	out := map[string]pack.Criterion{}
	var paths []entry
	for _, e := range f.entries(n, "criteria") {
		field := join("criteria", e.key)
		key, tag, err := st2CriteriaKey(e.key)
		if err != nil {
			f.at(e.k, field, "%v", err)
			continue
		}
		if tag != "" {
			key += "#" + tag
		}
		if first, dup := keys[key]; dup {
			f.at(e.k, field, "the same test as %q: give one of them a different #tag", first)
			continue
		}
		o := f.object(e.v, field, "type", "pattern", "condition")
		if o.n == nil {
			continue
		}
		c, ok := f.criterion(o)
		if !ok {
			continue
		}
		if cond := o.get("condition"); cond != nil {
			// StackStorm writes search's condition beside type; Attune's search reads it
			// inside the pattern.
			if c.Type != "search" {
				f.at(cond, join(field, "condition"), "only the search operator takes a condition")
				continue
			}
			c.Pattern = toJSON(map[string]any{"condition": o.str("condition"), "pattern": json.RawMessage(c.Pattern)})
		}
		keys[key] = e.key
		out[key] = c
		untagged, _, _ := strings.Cut(key, "#")
		paths = append(paths, entry{key: untagged, k: e.k, v: e.v})
	}
	return out, paths, keys
}

// st2CriteriaKey turns trigger.a.b, trigger['a-b'].c or trigger.a#2 into payload.a.b (and
// the tag). A segment holding a dot cannot be told apart from two segments on Attune's paths,
// so it is refused.
func st2CriteriaKey(key string) (path, tag string, err error) {
	key, tag, _ = strings.Cut(key, "#")
	rest, ok := strings.CutPrefix(key, "trigger")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("a criterion tests the trigger's payload: its key is trigger.<path>")
	}
	var segs []string
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "."):
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			segs = append(segs, rest[:end])
			rest = rest[end:]
		case strings.HasPrefix(rest, "['") || strings.HasPrefix(rest, `["`):
			q := rest[1:2]
			end := strings.Index(rest[2:], q+"]")
			if end < 0 {
				return "", "", fmt.Errorf("%s: unclosed [%s", key, q)
			}
			segs = append(segs, rest[2:2+end])
			rest = rest[2+end+2:]
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			if end < 0 {
				return "", "", fmt.Errorf("%s: unclosed [", key)
			}
			segs = append(segs, rest[1:end]) // a list index: trigger.items[0]
			rest = rest[end+1:]
		default:
			return "", "", fmt.Errorf("%s: want trigger.<field>, trigger['field'] or trigger.list[0] after trigger", key)
		}
	}
	for _, s := range segs {
		if s == "*" {
			// StackStorm's lookup is JSONPath and tests the first item matched; say which with
			// the search operator (condition: any), which tests every item.
			return "", "", fmt.Errorf("%s: a wildcard segment is not supported: test the list with the search operator", key)
		}
		if s == "" || strings.Contains(s, ".") {
			return "", "", fmt.Errorf("%s: the segment %q cannot be a path segment (empty, or holding a dot)", key, s)
		}
	}
	return "payload." + strings.Join(segs, "."), tag, nil
}

// st2Jinja reports Jinja in a string: an expression or a statement.
func st2Jinja(s string) bool { return strings.Contains(s, "{{") || strings.Contains(s, "{%") }

// st2kvUser finds StackStorm's per-user key-value scope in a template.
var st2kvUser = regexp.MustCompile(`st2kv\s*\.\s*user\b|st2kv\s*\[\s*['"]user['"]`)

// st2kvScopes refuses st2kv.user anywhere in the rule: Attune's store has a system and a pack
// scope, and a rule runs as no user whose keys it could read.
func (f fileProblems) st2kvScopes(n *yaml.Node) {
	n = resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if st2kvUser.MatchString(n.Value) {
			f.at(n, "", "st2kv.user: Attune's key-value store has no per-user scope (a rule runs as no user); use st2kv.system, or kv.pack in an Attune rule")
		}
	case yaml.MappingNode, yaml.SequenceNode:
		for _, c := range n.Content {
			f.st2kvScopes(c)
		}
	}
}

// st2Path is where a rule's field is in a StackStorm rule file: the parameters under action,
// a criteria key as written (keys maps the recorded keys back).
func st2Path(keys map[string]string) func([]string) []string {
	return func(path []string) []string {
		switch {
		case len(path) > 0 && path[0] == "parameters":
			return append([]string{"action"}, path...)
		case len(path) > 1 && path[0] == "criteria":
			if k, ok := keys[path[1]]; ok {
				path[1] = k
			}
		}
		return path
	}
}
