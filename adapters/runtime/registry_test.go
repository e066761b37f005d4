package runtime_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// named returns a runner that completes with the runner type it was asked for as its result.
func named() runtime.Runner {
	return runtime.RunnerFunc(func(_ context.Context, req runtime.Request) runtime.Outcome {
		res, _ := json.Marshal(string(req.RunnerType))
		return runtime.Outcome{Status: execution.Completed, Result: res}
	})
}

func TestRegistryResolvesAliases(t *testing.T) {
	t.Parallel()
	reg := runtime.NewRegistry(map[string]runtime.Runner{"bash": named(), "python3": named(), "builtin": named()})
	if got, want := reg.Supported(), []string{"builtin", "python", "shell"}; !reflect.DeepEqual(got, want) {
		t.Errorf("supported %v, want %v", got, want)
	}
	for alias, want := range map[pack.RunnerType]string{
		"sh": `"shell"`, "bash": `"shell"`, "shell": `"shell"`,
		"python": `"python"`, "python3": `"python"`, "builtin": `"builtin"`,
	} {
		o := reg.Run(t.Context(), runtime.Request{RunnerType: alias})
		if o.Status != execution.Completed || string(o.Result) != want {
			t.Errorf("%s: status %s, ran %s, want %s", alias, o.Status, o.Result, want)
		}
	}
	if _, ok := reg.Runner("nodejs"); ok {
		t.Error("a node runner without node")
	}
}

func TestRegistryFailsRunnerTypesItLacks(t *testing.T) {
	t.Parallel()
	reg := runtime.NewRegistry(map[string]runtime.Runner{"shell": named()})
	for rt, want := range map[pack.RunnerType]string{
		"nodejs":   "this worker has no node runtime (it has [shell])",
		"workflow": "this worker has no workflow runtime",
		"perl":     `unknown runner type "perl"`,
		"":         `unknown runner type ""`,
	} {
		o := reg.Run(t.Context(), runtime.Request{RunnerType: rt})
		if o.Status != execution.Failed || !strings.Contains(o.Reason, want) {
			t.Errorf("%q: status %s, reason %q; want failed, %q", rt, o.Status, o.Reason, want)
		}
	}
}

func TestNewRegistryRejectsWiringMistakes(t *testing.T) {
	t.Parallel()
	for name, runners := range map[string]map[string]runtime.Runner{
		"unknown type": {"perl": named()},
		"nil runner":   {"shell": nil},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			runtime.NewRegistry(runners)
		}()
	}
}

func TestRegistryMasksSecretsInTheOutcome(t *testing.T) {
	t.Parallel()
	leaky := runtime.RunnerFunc(func(_ context.Context, req runtime.Request) runtime.Outcome {
		var p struct{ Token string }
		_ = json.Unmarshal(req.Parameters, &p)
		res, _ := json.Marshal(map[string]string{"header": "Bearer " + p.Token})
		return runtime.Outcome{Status: execution.Failed, Result: res, Stdout: p.Token, Stderr: "bad " + p.Token, Reason: "rejected " + p.Token}
	})
	reg := runtime.NewRegistry(map[string]runtime.Runner{"builtin": leaky})
	o := reg.Run(t.Context(), runtime.Request{
		RunnerType: "builtin", Parameters: json.RawMessage(`{"token": "tok-123"}`), Secrets: []string{"token"},
	})
	got := []string{string(o.Result), o.Stdout, o.Stderr, o.Reason}
	want := []string{`{"header":"Bearer ********"}`, "********", "bad ********", "rejected ********"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outcome %q, want %q", got, want)
	}
}

func TestOutcomeForTheExecution(t *testing.T) {
	t.Parallel()
	code := 3
	o := runtime.Outcome{Status: execution.Failed, ExitCode: &code, Result: json.RawMessage(`1`), Stdout: "o", Stderr: "e", Truncated: true, Reason: "r"}
	want := execution.Outcome{Reason: "r", WorkerID: "w1", Result: json.RawMessage(`1`), ExitCode: &code, Stdout: "o", Stderr: "e", OutputTruncated: true}
	if got := o.Execution("w1"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRegistryFailsANonTerminalOutcome(t *testing.T) {
	t.Parallel()
	buggy := runtime.RunnerFunc(func(context.Context, runtime.Request) runtime.Outcome {
		return runtime.Outcome{Status: execution.Running}
	})
	o := runtime.NewRegistry(map[string]runtime.Runner{"node": buggy}).Run(t.Context(), runtime.Request{RunnerType: "node"})
	if o.Status != execution.Failed || !strings.Contains(o.Reason, `the node runner ended with status "running"`) {
		t.Errorf("status %s, reason %q", o.Status, o.Reason)
	}
}

// Whatever an action prints, its outcome is text the log takes: a NUL or binary output would
// otherwise be refused by the log's guard and leave the execution running for ever.
func TestRegistryCleansTextTheLogRefuses(t *testing.T) {
	t.Parallel()
	binary := runtime.RunnerFunc(func(context.Context, runtime.Request) runtime.Outcome {
		return runtime.Outcome{Status: execution.Completed, Stdout: "a\x00b\xffc", Stderr: "ok",
			Result: json.RawMessage(`{"k\u0000":"v\u0000","n":12345678901234567890,"s":"\ud800","l":["` + "\xfe" + `"]}`)}
	})
	o := runtime.NewRegistry(map[string]runtime.Runner{"builtin": binary}).Run(t.Context(), runtime.Request{RunnerType: "builtin"})
	if o.Stdout != "a\uFFFDb\uFFFDc" || o.Stderr != "ok" {
		t.Errorf("stdout %q stderr %q, want NUL and the invalid byte replaced by U+FFFD", o.Stdout, o.Stderr)
	}
	if want := `{"k�":"v�","l":["�"],"n":12345678901234567890,"s":"�"}`; string(o.Result) != want {
		t.Errorf("result %s, want %s", o.Result, want)
	}
	clean := runtime.NewRegistry(map[string]runtime.Runner{"builtin": named()}).Run(t.Context(), runtime.Request{RunnerType: "builtin"})
	if string(clean.Result) != `"builtin"` {
		t.Errorf("a clean result changed: %s", clean.Result)
	}
}
