package packloader

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
)

// st2PolicyFields are the keys of StackStorm's policy schema (st2common PolicyAPI).
var st2PolicyFields = []string{"name", "description", "enabled", "pack", "ref", "uid", "resource_ref", "policy_type", "parameters", "id"}

// StackStorm's policy types' defaults (st2's policies/meta/*.yaml): a concurrency policy
// delays up to 10 at once; a retry policy retries twice, at once.
const (
	st2DefaultThreshold = 10
	st2DefaultRetries   = 2
)

// readSt2Policy reads a policy in StackStorm's shape onto Attune's policies, which admission
// (concurrency) and the retry handler enforce:
//
//	name: my_action.concurrency
//	resource_ref: demo.my_action
//	policy_type: action.concurrency       # or action.concurrency.attr, action.retry
//	parameters: {action: delay, threshold: 10}
//
// action.concurrency's `delay` is Attune's enqueue mode and `cancel` its cancel mode;
// action.concurrency.attr keys the limit by the listed parameters; action.retry's retry_on
// failure is a retry on failed, timeout on timeout.
func (l *loader) readSt2Policy(f fileProblems, root *yaml.Node) {
	o := f.object(root, "", st2PolicyFields...)
	p := pack.Policy{File: strings.TrimPrefix(f.file, l.dir+"/")}
	p.Name, p.Ref = l.name(f, o, pack.KindPolicy)
	p.Description = o.str("description")
	p.Enabled = o.boolean("enabled", true)
	l.st2Identity(f, o, "policy", p.Ref)
	if n := o.get("id"); n != nil {
		f.at(n, "id", "StackStorm's database sets it; remove it")
	}
	src := policySource{f: f, actionField: "resource_ref"}
	if p.Action = o.needStr("resource_ref"); p.Action != "" && f.ref(o.get("resource_ref"), "resource_ref", p.Action) {
		src.action = o.get("resource_ref")
	}
	params := o.get("parameters")
	switch typ := o.needStr("policy_type"); typ {
	case "":
	case "action.concurrency", "action.concurrency.attr":
		keys := []string{"action", "threshold"}
		if typ == "action.concurrency.attr" {
			keys = append(keys, "attributes")
		}
		s := f.object(params, "parameters", keys...)
		p.Type = policy.Concurrency
		p.Concurrency = &policy.ConcurrencySpec{Threshold: st2DefaultThreshold, Mode: policy.Enqueue}
		if s.n == nil {
			break
		}
		if s.get("threshold") != nil {
			p.Concurrency.Threshold = s.integer("threshold", 1)
		}
		switch a := s.str("action"); a {
		case "", "delay":
		case "cancel":
			p.Concurrency.Mode = policy.Cancel
		default:
			f.at(s.get("action"), s.field("action"), "%q: want delay (wait for a free slot) or cancel", a)
		}
		if typ == "action.concurrency.attr" {
			s.need("attributes")
			p.Concurrency.Attributes, src.attributes = f.attributes(s)
		}
	case "action.retry":
		s := f.object(params, "parameters", "retry_on", "max_retry_count", "delay")
		p.Type = policy.Retry
		p.Retry = &policy.RetrySpec{MaxRetries: st2DefaultRetries, Backoff: policy.Fixed}
		if s.n == nil {
			f.at(o.need("parameters"), "parameters", "an action.retry policy needs retry_on (failure or timeout)")
			break
		}
		switch on := s.needStr("retry_on"); on {
		case "":
		case "failure":
			p.Retry.On = []execution.Status{execution.Failed}
		case "timeout":
			p.Retry.On = []execution.Status{execution.Timeout}
		default:
			f.at(s.get("retry_on"), s.field("retry_on"), "%q: want failure or timeout", on)
		}
		if s.get("max_retry_count") != nil {
			p.Retry.MaxRetries = s.integer("max_retry_count", 0)
		}
		p.Retry.DelaySeconds = s.integer("delay", 0)
	default:
		f.at(o.get("policy_type"), "policy_type", "%q: want action.concurrency, action.concurrency.attr or action.retry (StackStorm's policy types)", typ)
	}
	src.limit = p.Enabled && p.Type == policy.Concurrency
	l.p.Policies = append(l.p.Policies, p)
	l.policies = append(l.policies, src)
}
