package packloader

import (
	"cmp"
	"fmt"
	"github.com/attune-go/attune/domain/inquiry"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// resolve checks every reference once all files are read: a rule may name an action defined
// in a file read after it.
func (l *loader) resolve() {
	for _, r := range l.rules {
		l.resolveRule(r)
	}
	for _, s := range l.sensors {
		for _, t := range s.triggers {
			if _, msg := l.trigger(t.s); msg != "" {
				s.f.at(t.n, t.field, "%s", msg)
			}
		}
	}
	for _, w := range l.workflows {
		l.resolveWorkflow(w)
	}
	for _, p := range l.policies {
		if p.action == nil {
			continue
		}
		a, msg := l.action(p.action.Value)
		if msg != "" {
			p.f.at(p.action, p.field(), "%s", msg)
			continue
		}
		if p.limit && a.RunnerType.IsWorkflow() {
			// The workflow engine starts workflows, not the scheduler that admits executions.
			p.f.at(p.action, p.field(), "%s is a workflow: concurrency and rate-limit policies are enforced on actions run by workers only (put the policy on the actions its tasks run)", a.Ref)
		}
		if p.limit && a.Ref == inquiry.AskAction {
			// The inquiry engine asks questions; no worker slot or rate is involved.
			p.f.at(p.action, p.field(), "%s asks a person and runs on no worker: concurrency and rate-limit policies cannot apply to it", a.Ref)
		}
		for _, at := range p.attributes {
			spec, ok := a.Parameters[at.s]
			switch {
			case !ok:
				p.f.at(at.n, at.field, "action %s has no parameter %q%s", a.Ref, at.s, suggest(at.s, names(a.Parameters)))
			case spec.Secret:
				// A key is written to the log in clear, and a sealed value differs each time.
				p.f.at(at.n, at.field, "parameter %q of action %s is secret: a policy cannot be keyed by a secret", at.s, a.Ref)
			}
		}
	}
}

func (l *loader) resolveRule(r ruleSource) {
	if r.trigger != nil {
		t, msg := l.trigger(r.trigger.Value)
		if msg != "" {
			r.f.at(r.trigger, "trigger", "%s", msg)
		} else {
			l.checkParams(r.f, r.tparams, r.root, cmp.Or(r.tfield, "trigger_params"), "trigger "+t.Ref, t.ParametersSchema)
			checkTimer(r.f, t.Ref, r.tparams)
			l.checkPaths(r.f, t, r.paths)
		}
	}
	if r.action != nil {
		a, msg := l.action(r.action.Value)
		if msg != "" {
			r.f.at(r.action, "action", "%s", msg)
		} else {
			l.checkParams(r.f, r.params, r.root, cmp.Or(r.pfield, "parameters"), "action "+a.Ref, a.Parameters)
		}
	}
	if r.url != nil {
		l.checkHookURL(r)
	}
}

// checkParams checks the values a rule passes against the schema of what it passes them to:
// every name declared, every literal of the declared type, every required one given.
func (l *loader) checkParams(f fileProblems, n, root *yaml.Node, field, owner string, schema pack.Params) {
	given := map[string]bool{}
	if n != nil {
		for _, e := range f.quiet().entries(n, field) {
			given[e.key] = true
			pf := join(field, e.key)
			spec, ok := schema[e.key]
			switch {
			case !ok && len(schema) == 0:
				f.at(e.k, pf, "%s takes no parameters", owner)
			case !ok:
				f.at(e.k, pf, "%s has no parameter %q%s", owner, e.key, suggest(e.key, names(schema)))
			case spec.Immutable:
				f.at(e.k, pf, "is immutable in %s: its default cannot be overridden", owner)
			default:
				v, ok := f.quiet().value(e.v, pf)
				if !ok {
					continue
				}
				if s, isStr := v.(string); spec.Secret && !(isStr && wholeTemplate(s)) {
					f.at(e.v, pf, "is secret: pass a template, never a literal (the event log is immutable)")
					continue
				}
				if s, isStr := v.(string); isStr && l.st2 && strings.HasPrefix(owner, "action ") && st2Jinja(s) {
					continue // a StackStorm rule's Jinja renders text, cast to the type when it runs
				}
				f.check(e.v, pf, spec, v)
			}
		}
	}
	at := n
	if at == nil {
		at = root
	}
	for _, nm := range names(schema) {
		if p := schema[nm]; p.Required && p.Default == nil && !given[nm] {
			f.at(at, join(field, nm), "required by %s", owner)
		}
	}
}

// checkPaths checks criteria paths into the payload against the trigger's payload schema, when
// it declares one: a misspelt path would make a rule that silently never matches. In a
// StackStorm pack it warns instead: StackStorm does not check these paths, and its sensors
// often dispatch fields their trigger type's schema does not name, which rules then match.
func (l *loader) checkPaths(f fileProblems, t *pack.Trigger, paths []entry) {
	if len(t.PayloadSchema) == 0 {
		return
	}
	for _, e := range paths {
		rest, ok := strings.CutPrefix(e.key, "payload.")
		if !ok {
			continue
		}
		field, _, _ := strings.Cut(rest, ".")
		if _, declared := t.PayloadSchema[field]; !declared {
			if l.st2 {
				l.warn("%s:%d: %s: trigger %s's payload_schema declares no field %q%s: the criterion holds only for events that carry it anyway", f.file, e.k.Line,
					join("criteria", "trigger."+rest), t.Ref, field, suggest(field, names(t.PayloadSchema)))
				continue
			}
			f.at(e.k, join("criteria", e.key), "trigger %s has no payload field %q%s", t.Ref, field, suggest(field, names(t.PayloadSchema)))
		}
	}
}

func (l *loader) action(ref string) (*pack.Action, string) {
	p, msg := l.pack(ref, pack.KindAction)
	if p == nil {
		return nil, msg
	}
	if i := slices.IndexFunc(p.Actions, func(a pack.Action) bool { return a.Ref == ref }); i >= 0 {
		return &p.Actions[i], ""
	}
	return nil, fmt.Sprintf("unknown action %q: pack %s has no such action", ref, p.Ref)
}

func (l *loader) trigger(ref string) (*pack.Trigger, string) {
	p, msg := l.pack(ref, pack.KindTrigger)
	if p == nil {
		return nil, msg
	}
	if i := slices.IndexFunc(p.Triggers, func(t pack.Trigger) bool { return t.Ref == ref }); i >= 0 {
		return &p.Triggers[i], ""
	}
	return nil, fmt.Sprintf("unknown trigger %q: pack %s has no such trigger", ref, p.Ref)
}

// pack finds the pack a ref points into: this one, core, or another registered one.
func (l *loader) pack(ref string, kind pack.Kind) (*pack.PackRegistered, string) {
	p, _, _ := cutRef(ref)
	switch {
	case p == l.p.Ref:
		return &l.p, ""
	case p == CoreRef:
		if l.core == nil {
			core, err := LoadCore()
			if err != nil {
				// The core pack is embedded and tested; failing to load it is a bug.
				panic(fmt.Sprintf("packloader: load the embedded core pack: %v", err))
			}
			l.core = &core
		}
		return l.core, ""
	}
	if other, ok := l.others.Pack(p); ok && other != nil {
		return other, ""
	}
	return nil, fmt.Sprintf("unknown %s %q: no pack %q is registered", kind, ref, p)
}

// names lists a schema's parameter names, sorted so messages are stable.
func names(ps pack.Params) []string {
	out := make([]string, 0, len(ps))
	for n := range ps {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
