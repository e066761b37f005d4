package st2

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/st2expr"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
)

// kvRef finds the keys a template reads: st2kv.system.NAME (and st2kv.user.NAME, which has
// no counterpart here).
var kvRef = regexp.MustCompile(`st2kv\.(system|user)\.([A-Za-z0-9_][A-Za-z0-9_-]*)`)

// template is one parameter value that holds Jinja, with the parameters it reads.
type template struct {
	name string
	t    []*st2expr.Template // every string inside the value, in walk order
	uses []string            // other parameters it reads
	keys []string            // st2kv.system keys it reads
}

// render gives every declared parameter its value (given, else its default) and evaluates
// the Jinja in them, a parameter after the ones it reads, as StackStorm does. A template that
// reads a parameter, a key or a config field that does not exist fails with the name, unless
// it gives a default itself.
func (r *runners) render(ctx context.Context, req runtime.Request, given map[string]any) (all map[string]any, fromSecretKeys []string, err error) {
	all = map[string]any{}
	maps.Copy(all, given)
	for name, spec := range req.Params {
		if _, ok := all[name]; ok || spec.Default == nil {
			continue
		}
		v, err := pack.DecodeValue(spec.Default)
		if err != nil {
			return nil, nil, fmt.Errorf("default of %s: %w", name, err)
		}
		all[name] = v
	}
	pending := map[string]*template{}
	var keys []kv.Ref
	for _, name := range slices.Sorted(maps.Keys(all)) {
		var srcs []string
		walkStrings(all[name], func(s string) {
			if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
				srcs = append(srcs, s)
			}
		})
		if len(srcs) == 0 {
			continue
		}
		tp := &template{name: name}
		for _, src := range srcs {
			t, err := st2expr.Compile(src)
			if err != nil {
				return nil, nil, fmt.Errorf("parameter %s: %w", name, err)
			}
			tp.t = append(tp.t, t)
			for _, n := range t.Names() {
				if _, isParam := all[n]; isParam && n != name {
					tp.uses = append(tp.uses, n)
				}
			}
			for _, m := range kvRef.FindAllStringSubmatch(src, -1) {
				if m[1] == "user" {
					return nil, nil, fmt.Errorf("parameter %s: st2kv.user.%s: attune has no user-scoped keys; use st2kv.system", name, m[2])
				}
				keys = append(keys, kv.SystemKey(m[2]))
				tp.keys = append(tp.keys, m[2])
			}
		}
		pending[name] = tp
	}
	if len(pending) == 0 {
		return all, nil, nil
	}
	env, secretKeys, err := r.env(ctx, req, keys)
	if err != nil {
		return nil, nil, err
	}
	// Render in dependency order: each round renders the templates whose parameters are
	// all rendered; a round that renders nothing is a cycle.
	for len(pending) > 0 {
		progressed := false
		for _, name := range slices.Sorted(maps.Keys(pending)) {
			tp := pending[name]
			if slices.ContainsFunc(tp.uses, func(u string) bool { return pending[u] != nil }) {
				continue
			}
			env.Vars = varsOf(env.Vars, req.Params, all)
			i := 0
			v, err := mapStrings(all[name], func(s string) (any, error) {
				if !strings.Contains(s, "{{") && !strings.Contains(s, "{%") {
					return s, nil
				}
				t := tp.t[i]
				i++
				return t.Render(ctx, env)
			})
			if err != nil {
				return nil, nil, fmt.Errorf("parameter %s: %w", name, err)
			}
			all[name] = st2expr.Normalize(v)
			if slices.ContainsFunc(tp.keys, func(k string) bool { return secretKeys[k] }) {
				fromSecretKeys = append(fromSecretKeys, name)
			}
			delete(pending, name)
			progressed = true
		}
		if !progressed {
			return nil, nil, fmt.Errorf("parameters %s refer to each other in a cycle", strings.Join(slices.Sorted(maps.Keys(pending)), ", "))
		}
	}
	return all, fromSecretKeys, nil
}

// env is what templates see besides the parameters: st2kv.system (the keys they name, read
// now), config_context (the pack's config), action_context (StackStorm's: the action's
// pack; Attune has no StackStorm users, parents or chat channels to put there) and
// decrypt_kv (values are plaintext here).
func (r *runners) env(ctx context.Context, req runtime.Request, keys []kv.Ref) (st2expr.Env, map[string]bool, error) {
	system := map[string]any{}
	secret := map[string]bool{}
	for _, ref := range keys {
		if _, done := system[ref.Name]; done {
			continue
		}
		if r.cfg.KV == nil {
			return st2expr.Env{}, nil, fmt.Errorf("st2kv.system.%s: %w", ref.Name, errNoKV)
		}
		raw, found, isSecret, err := r.cfg.KV.Get(ctx, ref)
		if err != nil {
			return st2expr.Env{}, nil, fmt.Errorf("read st2kv.system.%s: %w", ref.Name, err)
		}
		if !found {
			continue // the render names it, unless the template gives a default
		}
		v, err := pack.DecodeValue(raw)
		if err != nil {
			return st2expr.Env{}, nil, fmt.Errorf("st2kv.system.%s: %w", ref.Name, err)
		}
		system[ref.Name] = st2expr.Normalize(v)
		secret[ref.Name] = isSecret
	}
	config := map[string]any{}
	if len(req.PackConfig) > 0 {
		var c map[string]any
		if err := json.Unmarshal(req.PackConfig, &c); err == nil && c != nil {
			config = c
		}
	}
	return st2expr.Env{
		Vars: map[string]any{"st2kv": map[string]any{"system": system}, "config_context": config,
			"action_context": map[string]any{"pack": packOf(req.Action)}},
		Funcs: map[string]st2expr.Func{
			"decrypt_kv": func(_ context.Context, args ...any) (any, error) {
				if len(args) == 0 {
					return nil, fmt.Errorf("decrypt_kv takes a value")
				}
				return args[0], nil
			},
		},
	}, secret, nil
}

// reserved are the names env gives templates, which a parameter of the same name does not
// hide.
var reserved = map[string]bool{"st2kv": true, "config_context": true, "action_context": true}

// packOf is the pack of an action ref (<pack>.<name>).
func packOf(ref string) string {
	p, _, _ := strings.Cut(ref, ".")
	return p
}

// varsOf is base with the parameters' current values as top-level names, a declared
// parameter without a value as None, as StackStorm renders them ({% if opt %} tests one).
func varsOf(base map[string]any, specs pack.Params, params map[string]any) map[string]any {
	out := maps.Clone(base)
	for k := range specs {
		if !reserved[k] {
			out[k] = nil
		}
	}
	for k, v := range params {
		if !reserved[k] {
			out[k] = st2expr.Normalize(v)
		}
	}
	return out
}

// walkStrings calls f on every string in v, lists and maps in order (map keys sorted).
func walkStrings(v any, f func(string)) {
	_, _ = mapStrings(v, func(s string) (any, error) { f(s); return s, nil })
}

// mapStrings rebuilds v with every string replaced by f's value, in walkStrings' order.
func mapStrings(v any, f func(string) (any, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := mapStrings(e, f)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			r, err := mapStrings(x[k], f)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}
