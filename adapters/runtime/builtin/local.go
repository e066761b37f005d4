package builtin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
)

// localResult is core.local's result, in the shape of StackStorm's local-shell-cmd.
type localResult struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ReturnCode *int   `json:"return_code"`
	Succeeded  bool   `json:"succeeded"`
	Failed     bool   `json:"failed"`
}

// local runs the command line cmd with bash, in the process group, output cap and minimal
// environment of a script. The command is written to a 0600 file that bash runs, never put in
// argv, where any user of the machine could read it (with whatever secret a template put in
// it) in /proc; the parameters reach it on stdin like any action's.
func (r *Runner) local(ctx context.Context, req runtime.Request) runtime.Outcome {
	var p struct {
		Cmd string                     `json:"cmd"`
		Cwd string                     `json:"cwd"`
		Env map[string]json.RawMessage `json:"env"`
		// Timeout is StackStorm's runner parameter: seconds this run may take, within the
		// action's own timeout.
		Timeout *int64 `json:"timeout"`
	}
	if err := decode(req, &p); err != nil {
		return runtime.Failed("%v", err)
	}
	if strings.TrimSpace(p.Cmd) == "" {
		return runtime.Failed("core.local: parameter cmd is required")
	}
	if r.cfg.Shell == "" {
		return runtime.Failed("core.local: this worker has no bash")
	}
	env := make([]string, 0, len(p.Env))
	for name, v := range p.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return runtime.Failed("core.local: invalid environment variable name %q", name)
		}
		env = append(env, name+"="+text(v))
	}
	if p.Timeout != nil {
		if *p.Timeout < 1 {
			return runtime.Failed("core.local: parameter timeout must be at least 1 second")
		}
		var cancel context.CancelFunc
		ctx, cancel = runtime.WithTimeout(ctx, time.Duration(min(*p.Timeout, int64(maxWait/time.Second)))*time.Second)
		defer cancel()
	}
	params := req.Parameters
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("{}")
	}
	o := r.cfg.Executor.Exec(ctx, process.Command{
		ExecutionID: req.ExecutionID,
		Action:      req.Action,
		Path:        r.cfg.Shell,
		// The command reaches bash on a pipe, never on disk or in argv: no file to leave
		// behind, nothing another user could read, whatever user the action runs as.
		Args:   []string{"/dev/fd/3"},
		Script: []byte(p.Cmd + "\n"),
		Dir:    cmp.Or(p.Cwd, r.cfg.TempDir),
		Env:    env,
		Stdin:  params,
		Output: req.Output,
	})
	res, err := result(localResult{
		Stdout: o.Stdout, Stderr: o.Stderr, ReturnCode: o.ExitCode,
		Succeeded: o.ExitCode != nil && *o.ExitCode == 0,
		Failed:    o.ExitCode == nil || *o.ExitCode != 0,
	})
	if err != nil {
		return runtime.Failed("core.local: %v", err)
	}
	o.Result = res
	return o
}
