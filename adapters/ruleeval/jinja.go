package ruleeval

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/st2expr"
	"github.com/attune-go/attune/domain/pack"
)

// A rule of a StackStorm pack (pack.Rule.Dialect) is StackStorm's: its parameters and its
// criteria patterns are Jinja (adapters/st2expr) over two names, trigger (the event's
// payload) and st2kv (st2kv.system.NAME, the store's system keys); its criteria keys may end
// in #tag. Everything else — operators, the enforcement, kv fetching and the secret-key
// policy — is the one Attune rules go through.

// The names a StackStorm rule's Jinja reads.
const (
	jinjaTrigger = "trigger"
	jinjaKV      = "st2kv"
)

// decryptKV is StackStorm's filter that opens a secret key: the store's values reach the
// template opened already (and a secret key only as the whole of a secret parameter, which is
// sealed again), so it passes its value through.
var decryptKV = map[string]st2expr.Func{
	"decrypt_kv": func(_ context.Context, args ...any) (any, error) {
		if len(args) == 0 {
			return nil, errors.New("decrypt_kv needs a value")
		}
		return args[0], nil
	},
}

// jinja is one string of a StackStorm rule holding Jinja.
type jinja struct {
	tmpl  *st2expr.Template
	src   string
	path  []string
	kv    []KVRef
	whole *KVRef // the string is exactly {{ st2kv.system.NAME }} (| decrypt_kv allowed)
}

func (n *jinja) render(vars map[string]any) (any, error) {
	ev, _ := vars[nameEvent].(map[string]any)
	store, _ := vars[nameKV].(map[string]any)
	env := st2expr.Env{
		Vars:  map[string]any{jinjaTrigger: ev["payload"], jinjaKV: map[string]any{"system": store["system"]}},
		Funcs: decryptKV,
	}
	v, err := n.tmpl.Render(context.Background(), env)
	if err != nil {
		if ue := (*st2expr.UndefinedError)(nil); errors.As(err, &ue) {
			err = ue // "trigger.body.x does not exist" says it all
		}
		return nil, &RenderError{Path: n.path, Template: n.src, Err: err}
	}
	return v, nil
}

var (
	// st2kvKey is a read of one system key: st2kv.system.NAME or st2kv.system['NAME'].
	st2kvKey = regexp.MustCompile(`st2kv\s*\.\s*system\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*'([^']+)'\s*\]|\[\s*"([^"]+)"\s*\])`)
	st2kvAny = regexp.MustCompile(`\bst2kv\b`)
	// st2kvWhole is a string that is one key and nothing else.
	st2kvWhole = regexp.MustCompile(`^\s*\{\{\s*st2kv\s*\.\s*system\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*decrypt_kv\s*)?\}\}\s*$`)
)

// compileJinja compiles one string; a string without Jinja stays a literal.
func compileJinja(s string, path []string, ps *problems) node {
	t, err := st2expr.Compile(s)
	if err != nil {
		ps.add(path, s, "%v", err)
		return literal{s}
	}
	if t.Literal() {
		return literal{s}
	}
	n := &jinja{tmpl: t, src: s, path: clonePath(path)}
	for _, name := range t.Names() {
		switch name {
		case jinjaTrigger, jinjaKV:
		case "system":
			ps.add(path, s, "system.NAME is StackStorm's old spelling of st2kv.system.NAME: write st2kv.system.NAME")
		default:
			ps.add(path, s, "%s: a rule's Jinja reads trigger (the payload) and st2kv.system, nothing else", name)
		}
	}
	for _, f := range t.Functions() {
		if f != "decrypt_kv" && slices.Contains(st2expr.CallerFuncs, f) {
			ps.add(path, s, "%s() belongs to workflows; a rule's Jinja has no %s", f, f)
		}
	}
	keys := st2kvKey.FindAllStringSubmatch(s, -1)
	if len(st2kvAny.FindAllStringIndex(s, -1)) > len(keys) {
		// The keys are fetched in one query before rendering, so they must be known now.
		ps.add(path, s, "st2kv is read as st2kv.system.NAME with a constant name (st2kv.user has no counterpart: Attune's store has no per-user scope)")
	}
	for _, k := range keys {
		n.kv = append(n.kv, KVRef{Scope: "system", Name: k[1] + k[2] + k[3]})
	}
	n.kv = uniqueRefs(n.kv)
	if m := st2kvWhole.FindStringSubmatch(s); m != nil {
		n.whole = &KVRef{Scope: "system", Name: m[1]}
	}
	return n
}

func compileJinjaParameters(raw []byte, ps *problems) *Template {
	path := []string{"parameters"}
	v, err := DecodeJSON(raw)
	if err != nil {
		ps.add(path, "", "%v", err)
		return nil
	}
	if v == nil {
		return nil
	}
	if _, ok := v.(map[string]any); !ok {
		ps.add(path, "", "parameters must be an object")
		return nil
	}
	return &Template{root: compileTree(v, path, ps, compileJinja)}
}

// untag drops a StackStorm criteria key's #tag: payload.x#2 tests payload.x.
func untag(key string, st2 bool) string {
	if !st2 {
		return key
	}
	path, _, _ := strings.Cut(key, "#")
	return path
}

// isStackStorm tells whether r is written in StackStorm's dialect.
func isStackStorm(r pack.Rule) bool { return r.Dialect == pack.DialectStackStorm }

// jinjaPattern compiles a StackStorm criteria pattern that holds Jinja.
func jinjaPattern(s string, path []string, ps *problems) (node, bool) {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "{%") {
		return nil, false
	}
	return compileJinja(s, path, ps), true
}
