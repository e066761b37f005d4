package packloader_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
)

// StackStorm's three policy types, written as its documentation writes them, become the
// policies admission and the retry handler enforce, with StackStorm's defaults.
func TestStackStormPoliciesMapOntoAttunesPolicies(t *testing.T) {
	t.Parallel()
	fsys := st2Files("p", map[string]string{
		"policies/delay.yaml": `---
name: greet.concurrency
description: Limits the concurrent executions for my action.
enabled: true
resource_ref: hello_st2.greet
policy_type: action.concurrency
parameters:
    action: delay
    threshold: 3
`,
		"policies/attr.yaml": `name: greet.concurrency.attr
pack: hello_st2
resource_ref: hello_st2.greet
policy_type: action.concurrency.attr
parameters:
    action: cancel
    attributes:
        - greeting
`,
		"policies/retry.yaml": `name: retry_core_http_on_timeout
description: Retry core.http action on timeout.
enabled: true
resource_ref: core.http
policy_type: action.retry
parameters:
    retry_on: timeout
    max_retry_count: 2
    delay: 2
`,
	})
	p, err := packloader.Load(fsys, "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]pack.Policy{}
	for _, pol := range p.Policies {
		byName[pol.Name] = pol
	}
	if got := byName["greet.concurrency"]; got.Type != policy.Concurrency || !got.Enabled || got.Action != "hello_st2.greet" ||
		!reflect.DeepEqual(*got.Concurrency, policy.ConcurrencySpec{Threshold: 3, Mode: policy.Enqueue}) {
		t.Errorf("action.concurrency: %+v %+v", got, got.Concurrency)
	}
	if got := byName["greet.concurrency.attr"]; got.Type != policy.Concurrency ||
		!reflect.DeepEqual(*got.Concurrency, policy.ConcurrencySpec{Threshold: 10, Mode: policy.Cancel, Attributes: []string{"greeting"}}) {
		t.Errorf("action.concurrency.attr (threshold defaults to StackStorm's 10): %+v", got.Concurrency)
	}
	if got := byName["retry_core_http_on_timeout"]; got.Type != policy.Retry || got.Action != "core.http" ||
		got.Retry.MaxRetries != 2 || got.Retry.DelaySeconds != 2 || !reflect.DeepEqual(got.Retry.On, []execution.Status{execution.Timeout}) {
		t.Errorf("action.retry: %+v", got.Retry)
	}
}

func TestStackStormPolicyProblemsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ file, want string }{
		"unknown type": {"name: x\nresource_ref: hello_st2.greet\npolicy_type: action.rate\n",
			`p/policies/x.yaml:3: policy_type: "action.rate": want action.concurrency, action.concurrency.attr or action.retry`},
		"retry on what": {"name: x\nresource_ref: hello_st2.greet\npolicy_type: action.retry\nparameters: {retry_on: always}\n",
			`p/policies/x.yaml:4: parameters.retry_on: "always": want failure or timeout`},
		"unknown attribute": {"name: x\nresource_ref: hello_st2.greet\npolicy_type: action.concurrency.attr\nparameters:\n  threshold: 1\n  attributes: [hostname]\n",
			`p/policies/x.yaml:6: parameters.attributes[0]`},
		"unknown action": {"name: x\nresource_ref: hello_st2.nope\npolicy_type: action.concurrency\n",
			`p/policies/x.yaml:2: resource_ref:`},
		"delay is not a mode": {"name: x\nresource_ref: hello_st2.greet\npolicy_type: action.concurrency\nparameters: {action: wait}\n",
			`p/policies/x.yaml:4: parameters.action: "wait": want delay`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := packloader.Load(st2Files("p", map[string]string{"policies/x.yaml": tc.file}), "p", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
