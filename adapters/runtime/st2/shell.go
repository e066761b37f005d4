package st2

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// shellResult is the result of StackStorm's local runners.
type shellResult struct {
	Failed     bool `json:"failed"`
	Succeeded  bool `json:"succeeded"`
	ReturnCode *int `json:"return_code"`
	Stdout     any  `json:"stdout"`
	Stderr     any  `json:"stderr"`
}

// shellCmd is local-shell-cmd: the cmd parameter, rendered, run by bash. The command reaches
// bash on a pipe (/dev/fd/3), never in argv, where any user of the host could read it with
// whatever a template put in it.
func (r *runners) shellCmd(ctx context.Context, req runtime.Request) runtime.Outcome {
	c, failed := r.prepare(ctx, req)
	if failed != nil {
		return *failed
	}
	cmd := c.str("cmd")
	if strings.TrimSpace(cmd) == "" {
		return runtime.Failed("%s: parameter cmd is empty: a local-shell-cmd action runs its cmd", req.Action)
	}
	return r.shell(ctx, req, c, process.Command{
		Path:   r.cfg.Shell,
		Args:   []string{"/dev/fd/3"},
		Script: []byte(cmd + "\n"),
		Dir:    cmp.Or(c.str("cwd"), r.cfg.TempDir, os.TempDir()),
	})
}

// shellScript is local-shell-script: the entry point run with StackStorm's arguments, the
// action's named parameters as --name=value (kwarg_op) and its positional ones by position.
// The loader refuses a secret action parameter here: argv is readable by every process on
// the host, and passing them there is StackStorm's contract for this runner.
func (r *runners) shellScript(ctx context.Context, req runtime.Request) runtime.Outcome {
	c, failed := r.prepareScript(ctx, req)
	if failed != nil {
		return *failed
	}
	return r.shell(ctx, req, c, process.Command{
		Path: req.EntryPoint,
		Args: scriptArgs(c.action, req.Params, c.kwargOp()),
		Dir:  cmp.Or(c.str("cwd"), filepath.Dir(req.EntryPoint)),
	})
}

// prepareScript is prepare for the script runners, which pass the action's parameters on the
// script's command line: a secret among them fails the run (the loader refuses such an action;
// this holds for one registered before it did, and for one rendered from a secret key), and
// so does a missing entry point.
func (r *runners) prepareScript(ctx context.Context, req runtime.Request) (*call, *runtime.Outcome) {
	c, failed := r.prepare(ctx, req)
	if failed != nil {
		return nil, failed
	}
	fail := func(format string, args ...any) (*call, *runtime.Outcome) {
		o := runtime.Failed("%s: "+format, append([]any{req.Action}, args...)...)
		return nil, &o
	}
	for _, name := range c.secrets {
		if _, isAction := c.action[name]; isAction {
			return fail("parameter %s is secret, and a %s would put it on its command line", name, req.RunnerType)
		}
	}
	if req.EntryPoint == "" {
		return fail("no entry point: a %s runs its entry point", req.RunnerType)
	}
	return c, nil
}

// kwargOp is the kwarg_op runner parameter: what goes before a named argument.
func (c *call) kwargOp() string {
	if op, ok := c.runner["kwarg_op"].(string); ok {
		return op
	}
	return "--"
}

// shell runs cmd with the runner parameters common to both local runners and shapes the
// outcome as StackStorm does.
func (r *runners) shell(ctx context.Context, req runtime.Request, c *call, cmd process.Command) runtime.Outcome {
	env, err := c.env(req)
	if err != nil {
		return runtime.Failed("%s: %v", req.Action, err)
	}
	ctx, cancel := runtime.WithTimeout(ctx, c.timeout(req))
	defer cancel()
	cmd.ExecutionID, cmd.Action = req.ExecutionID, req.Action
	cmd.Env = append(env, req.Env...)
	return c.masked(req, func(req runtime.Request) runtime.Outcome {
		cmd.Output = req.Output
		o := r.cfg.Executor.Exec(ctx, cmd)
		ok := o.Status == execution.Completed
		o.Result = resultOf(shellResult{
			Failed: !ok, Succeeded: ok, ReturnCode: o.ExitCode,
			Stdout: jsonOrText(stripShellChars(o.Stdout)), Stderr: jsonOrText(stripShellChars(o.Stderr)),
		})
		return o
	})
}

// scriptArgs builds a local-shell-script's argv as StackStorm does (action_utils.get_args and
// ShellScriptAction._get_script_arguments): the named parameters first, as
// <kwarg_op>name=value, a true boolean as the bare <kwarg_op>name, a false one, a null or an
// empty string left out; then the positional parameters by position, serialised by type.
// StackStorm's order of named arguments is its dict's; here they are sorted by name.
func scriptArgs(action map[string]any, specs pack.Params, kwargOp string) []string {
	type positional struct {
		at   int
		name string
	}
	var pos []positional
	for name, spec := range specs {
		if spec.Position != nil {
			pos = append(pos, positional{*spec.Position, name})
		}
	}
	slices.SortFunc(pos, func(a, b positional) int { return a.at - b.at })
	isPositional := map[string]bool{}
	for _, p := range pos {
		isPositional[p.name] = true
	}
	var args []string
	for _, name := range slices.Sorted(maps.Keys(action)) {
		if isPositional[name] {
			continue
		}
		switch v := action[name].(type) {
		case nil:
		case string:
			if v != "" {
				args = append(args, kwargOp+name+"="+v)
			}
		case bool:
			if v {
				args = append(args, kwargOp+name)
			}
		default:
			args = append(args, kwargOp+name+"="+pyStr(v))
		}
	}
	for _, p := range pos {
		args = append(args, positionalArg(specs[p.name].Type, action[p.name]))
	}
	return args
}

// positionalArg is StackStorm's serialize_positional_argument: booleans as 1 and 0, lists
// comma-joined, objects as JSON, null as the empty string; a value of no declared type (or
// integer) is written as it is, and as the empty string when Python would call it false.
func positionalArg(t pack.ParamType, v any) string {
	switch t {
	case pack.ParamString, pack.ParamNumber:
		if v == nil {
			return ""
		}
		return pyStr(v)
	case pack.ParamBoolean:
		switch b := v.(type) {
		case nil:
			return ""
		case bool:
			if b {
				return "1"
			}
		}
		return "0"
	case pack.ParamArray:
		list, _ := v.([]any)
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = pyStr(e)
		}
		return strings.Join(parts, ",")
	case pack.ParamObject:
		if m, _ := v.(map[string]any); len(m) > 0 {
			return pyStr(m)
		}
		return ""
	case pack.ParamNull:
		return ""
	}
	if pyFalsy(v) {
		return ""
	}
	return pyStr(v)
}

// pyFalsy is Python's truth test on a JSON value.
func pyFalsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// stripShellChars drops one trailing line break, as StackStorm's strip_shell_chars does.
func stripShellChars(s string) string {
	for _, end := range []string{"\r\n", "\n", "\r"} {
		if strings.HasSuffix(s, end) {
			return strings.TrimSuffix(s, end)
		}
	}
	return s
}

// jsonOrText is StackStorm's jsonify.json_loads on stdout and stderr: the JSON value the text
// is, or the text.
func jsonOrText(s string) any {
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return s
	}
	if _, err := dec.Token(); err == nil {
		return s
	}
	return v
}
