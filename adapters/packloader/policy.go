package packloader

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
)

// policySource keeps what resolve needs to check a policy against its action.
type policySource struct {
	f      fileProblems
	action *yaml.Node
	// actionField names the field action came from: action, or StackStorm's resource_ref.
	actionField string
	attributes  []item
	// limit is an enabled concurrency or rate-limit policy: admission must be able to
	// enforce it on its action.
	limit bool
}

// specKeys maps each policy type to the field holding its parameters.
var specKeys = map[policy.Type]string{
	policy.Concurrency: "concurrency",
	policy.RateLimit:   "rate_limit",
	policy.Retry:       "retry",
}

// enforced lists the policy types a handler carries out; an enabled policy of any other type
// is refused at load. One line per type, so that each type's handler adds its own.
var enforced = map[policy.Type]bool{
	policy.Retry:       true, // handlers/retry
	policy.Concurrency: true, // handlers/admission
	policy.RateLimit:   true, // handlers/admission
}

// field is the name of the field that names the policy's action.
func (p policySource) field() string {
	if p.actionField == "" {
		return "action"
	}
	return p.actionField
}

func (l *loader) readPolicy(f fileProblems, root *yaml.Node) {
	if l.st2 {
		l.readSt2Policy(f, root)
		return
	}
	o := f.object(root, "", "name", "description", "enabled", "action", "type", "concurrency", "rate_limit", "retry")
	p := pack.Policy{File: strings.TrimPrefix(f.file, l.dir+"/")}
	p.Name, p.Ref = l.name(f, o, pack.KindPolicy)
	p.Description = o.str("description")
	p.Enabled = o.boolean("enabled", true)
	src := policySource{f: f}
	if p.Action = o.needStr("action"); p.Action != "" && f.ref(o.get("action"), "action", p.Action) {
		src.action = o.get("action")
	}
	typ := o.needStr("type")
	if typ != "" {
		t, err := policy.ParseType(typ)
		if err != nil {
			f.at(o.get("type"), "type", "%s", err.Error())
		}
		p.Type = t
	}
	for _, t := range policy.Types {
		if key := specKeys[t]; p.Type != "" && t != p.Type && o.get(key) != nil {
			f.at(o.get(key), key, "does not apply to a %s policy", p.Type)
		}
	}
	switch p.Type {
	case policy.Concurrency:
		s := f.object(o.need("concurrency"), "concurrency", "threshold", "mode", "attributes")
		if s.n != nil {
			p.Concurrency = &policy.ConcurrencySpec{
				Threshold: f.needInt(s, "threshold", 1),
				Mode:      f.mode(s),
			}
			p.Concurrency.Attributes, src.attributes = f.attributes(s)
		}
	case policy.RateLimit:
		s := f.object(o.need("rate_limit"), "rate_limit", "limit", "window", "mode", "attributes")
		if s.n != nil {
			p.RateLimit = &policy.RateLimitSpec{
				Limit:         f.needInt(s, "limit", 1),
				WindowSeconds: f.needInt(s, "window", 1),
				Mode:          f.mode(s),
			}
			p.RateLimit.Attributes, src.attributes = f.attributes(s)
		}
	case policy.Retry:
		s := f.object(o.need("retry"), "retry", "on", "max_retries", "delay", "backoff", "max_delay")
		if s.n != nil {
			p.Retry = &policy.RetrySpec{
				MaxRetries:      f.needInt(s, "max_retries", 1),
				DelaySeconds:    s.integer("delay", 0),
				MaxDelaySeconds: s.integer("max_delay", 0),
			}
			s.need("on")
			for _, it := range s.strs("on") {
				st := execution.Status(it.s)
				if !slices.Contains(policy.RetryOn, st) {
					f.at(it.n, it.field, "cannot retry on %q: want one of %v", it.s, policy.RetryOn)
					continue
				}
				if slices.Contains(p.Retry.On, st) {
					f.at(it.n, it.field, "%q is listed twice", it.s)
					continue
				}
				p.Retry.On = append(p.Retry.On, st)
			}
			if b := s.str("backoff"); b != "" {
				backoff, err := policy.ParseBackoff(b)
				if err != nil {
					f.at(s.get("backoff"), s.field("backoff"), "%s", err.Error())
				}
				p.Retry.Backoff = backoff
			}
		}
	}
	if p.Enabled && p.Type != "" && !enforced[p.Type] {
		// A limit that loads and then does nothing lets its author believe it holds. Refuse
		// it, naming the way out; a disabled policy claims nothing and is kept.
		f.at(o.get("type"), "type", "%s policies are not enforced by this version of attune yet, so this one is refused rather than ignored: set enabled: false to keep the file", p.Type)
	}
	src.limit = p.Enabled && (p.Type == policy.Concurrency || p.Type == policy.RateLimit)
	l.p.Policies = append(l.p.Policies, p)
	l.policies = append(l.policies, src)
}

func (f fileProblems) needInt(o object, key string, lowest int) int {
	i, _ := f.integer(o.need(key), o.field(key), lowest)
	return i
}

// mode reads a limit's mode; enqueue (wait in line) unless the file says cancel.
func (f fileProblems) mode(o object) policy.Mode {
	s := o.str("mode")
	if s == "" {
		return policy.Enqueue
	}
	m, err := policy.ParseMode(s)
	if err != nil {
		f.at(o.get("mode"), o.field("mode"), "%s", err.Error())
	}
	return m
}

// attributes reads the action parameters a limit is keyed by; resolve checks they exist.
func (f fileProblems) attributes(o object) ([]string, []item) {
	var names []string
	var items []item
	for _, it := range o.strs("attributes") {
		if slices.Contains(names, it.s) {
			f.at(it.n, it.field, "%q is listed twice", it.s)
			continue
		}
		names = append(names, it.s)
		items = append(items, it)
	}
	if n := o.get("attributes"); n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		f.at(n, o.field("attributes"), "an empty list keys nothing: leave attributes out for one limit per action")
	}
	return names, items
}
