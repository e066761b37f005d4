package runtime

import (
	"context"
	"fmt"
	"slices"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// aliases maps every name a runtime goes by to its runner type (design §3: sh/bash/shell,
// python/python3, node/nodejs).
var aliases = map[string]pack.RunnerType{
	"shell":    pack.RunnerShell,
	"sh":       pack.RunnerShell,
	"bash":     pack.RunnerShell,
	"python":   pack.RunnerPython,
	"python3":  pack.RunnerPython,
	"node":     pack.RunnerNode,
	"nodejs":   pack.RunnerNode,
	"builtin":  pack.RunnerBuiltin,
	"workflow": pack.RunnerWorkflow,

	// StackStorm's runners, by their names and their older aliases.
	string(pack.RunnerLocalShellCmd):     pack.RunnerLocalShellCmd,
	string(pack.RunnerLocalShellScript):  pack.RunnerLocalShellScript,
	string(pack.RunnerPythonScript):      pack.RunnerPythonScript,
	string(pack.RunnerHTTPRequest):       pack.RunnerHTTPRequest,
	string(pack.RunnerNoop):              pack.RunnerNoop,
	"run-local":                          pack.RunnerLocalShellCmd,
	"run-local-script":                   pack.RunnerLocalShellScript,
	"run-python":                         pack.RunnerPythonScript,
	"http-runner":                        pack.RunnerHTTPRequest,
	string(pack.RunnerRemoteShellCmd):    pack.RunnerRemoteShellCmd,
	string(pack.RunnerRemoteShellScript): pack.RunnerRemoteShellScript,
	"run-remote":                         pack.RunnerRemoteShellCmd,
	"run-remote-script":                  pack.RunnerRemoteShellScript,
}

// Canonical returns the runner type a runtime name or alias stands for.
func Canonical(name string) (pack.RunnerType, bool) {
	rt, ok := aliases[name]
	return rt, ok
}

// Registry maps runner types to the runners this worker has.
type Registry struct {
	runners map[pack.RunnerType]Runner
}

// NewRegistry returns a registry of runners keyed by runner type or alias. A nil runner or an
// unknown name is a wiring mistake and panics.
func NewRegistry(runners map[string]Runner) *Registry {
	r := &Registry{runners: make(map[pack.RunnerType]Runner, len(runners))}
	for name, runner := range runners {
		rt, ok := Canonical(name)
		if !ok {
			panic(fmt.Sprintf("runtime registry: unknown runner type %q", name))
		}
		if runner == nil {
			panic(fmt.Sprintf("runtime registry: nil runner for %s", name))
		}
		r.runners[rt] = runner
	}
	return r
}

// Supported lists the runner types this worker runs, sorted: its capabilities.runtimes.
func (r *Registry) Supported() []string {
	names := make([]string, 0, len(r.runners))
	for rt := range r.runners {
		names = append(names, string(rt))
	}
	slices.Sort(names)
	return names
}

// Runner returns the runner for a runner type or alias.
func (r *Registry) Runner(name string) (Runner, bool) {
	rt, ok := Canonical(name)
	if !ok {
		return nil, false
	}
	runner, ok := r.runners[rt]
	return runner, ok
}

// Run runs req on the runner of its runner type (aliases accepted), masks the values of its
// secret parameters in the outcome and cleans its text of what the log refuses (Clean). A runner type this worker lacks fails the run.
func (r *Registry) Run(ctx context.Context, req Request) Outcome {
	rt, ok := Canonical(string(req.RunnerType))
	if !ok {
		return Failed("unknown runner type %q", req.RunnerType)
	}
	runner, ok := r.runners[rt]
	if !ok {
		return Failed("this worker has no %s runtime (it has %v)", rt, r.Supported())
	}
	req.RunnerType = rt
	if req.Output != nil {
		masked := MaskOutput(req.Output, req.Parameters, req.Secrets)
		req.Output = masked
		defer masked.Flush() // before the caller reports the outcome: the chunks come first
	}
	o := runner.Run(ctx, req)
	if !o.Status.Terminal() {
		// A runner bug must not leave the execution running forever.
		o.Reason = fmt.Sprintf("the %s runner ended with status %q, not a terminal one; %s", rt, o.Status, o.Reason)
		o.Status = execution.Failed
	}
	return Clean(Redact(o, req.Parameters, req.Secrets))
}
