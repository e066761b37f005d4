// Package st2 runs the actions of StackStorm packs with StackStorm's runners: local-shell-cmd,
// local-shell-script, python-script, http-request and noop, each with StackStorm's runner
// parameters, its way of passing parameters to the action and its result shape, so that a
// StackStorm workflow reading result().stdout or result().result reads what StackStorm would
// give it.
//
// Parameters are rendered here, right before the run: a default (or a given value) holding
// Jinja ({{ other_param }}, {{ st2kv.system.x }}, {{ config_context.x }}) is evaluated against
// the other parameters, the key-value store and the pack's config. Rendering on the worker
// rather than when the execution is requested keeps a secret read from the key-value store
// out of the event log, which records the parameters as they were asked for.
package st2

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/paramschema"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
)

// DefaultMaxBodyBytes caps the response body http-request keeps.
const DefaultMaxBodyBytes = 1 << 20

// KV is the key-value store as StackStorm actions see it: st2kv in templates and a python
// action's action_service. Values are plaintext JSON.
type KV interface {
	// Get returns the plaintext value and whether the key is secret.
	Get(ctx context.Context, ref kv.Ref) (value json.RawMessage, found, secret bool, err error)
	Set(ctx context.Context, ref kv.Ref, value json.RawMessage, secret bool, ttl time.Duration) error
	Delete(ctx context.Context, ref kv.Ref) (found bool, err error)
}

// Config configures the runners.
type Config struct {
	Executor *process.Executor
	// Shell is bash (local-shell-cmd); empty: the shell runners are not offered.
	Shell string
	// Python is python3 (python-script); empty: python-script is not offered.
	Python string
	// StandIn is the directory holding the st2common stand-in package (adapters/runtime/st2py),
	// put on a python action's PYTHONPATH.
	StandIn string
	// HTTPClient sends http-request's requests; default a client of its own.
	HTTPClient   *http.Client
	MaxBodyBytes int
	// TempDir is where a local-shell-cmd runs without a cwd; default the system's.
	TempDir string
	// KV serves st2kv and action_service; nil fails them with a reason.
	KV KV
	// SSH configures remote-shell-cmd and remote-shell-script (remote.go).
	SSH    SSHConfig
	Logger *slog.Logger
}

// Runners returns the runners this configuration offers, by runner type.
func Runners(cfg Config) map[string]runtime.Runner {
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &runners{cfg: cfg}
	out := map[string]runtime.Runner{
		string(pack.RunnerHTTPRequest): runtime.RunnerFunc(r.http),
		string(pack.RunnerNoop):        runtime.RunnerFunc(noop),
		// The remote runners need nothing of this host but the network: an unreachable or
		// unknown host fails its run with the reason.
		string(pack.RunnerRemoteShellCmd):    runtime.RunnerFunc(r.remoteCmd),
		string(pack.RunnerRemoteShellScript): runtime.RunnerFunc(r.remoteScript),
	}
	if cfg.Shell != "" && cfg.Executor != nil {
		out[string(pack.RunnerLocalShellCmd)] = runtime.RunnerFunc(r.shellCmd)
		out[string(pack.RunnerLocalShellScript)] = runtime.RunnerFunc(r.shellScript)
	}
	if cfg.Python != "" && cfg.Executor != nil && cfg.StandIn != "" {
		out[string(pack.RunnerPythonScript)] = runtime.RunnerFunc(r.python)
	}
	return out
}

type runners struct{ cfg Config }

// call is one run's parameters, rendered and checked, split as StackStorm splits them.
type call struct {
	// secrets are the parameters whose values are masked in what the run shows: those
	// declared secret and those rendered from a secret key.
	secrets []string
	all     map[string]any // every parameter, runner's and action's
	runner  map[string]any // the runner's (cmd, cwd, env, timeout, …)
	action  map[string]any // the action's own: what the script receives
}

// prepare renders and checks req's parameters and splits them into the runner's and the
// action's; a failure is the outcome of the run.
func (r *runners) prepare(ctx context.Context, req runtime.Request) (*call, *runtime.Outcome) {
	fail := func(format string, args ...any) (*call, *runtime.Outcome) {
		o := runtime.Failed("%s: "+format, append([]any{req.Action}, args...)...)
		return nil, &o
	}
	var given map[string]any
	if len(req.Parameters) > 0 {
		v, err := pack.DecodeValue(req.Parameters)
		if err != nil {
			return fail("parameters: %v", err)
		}
		given, _ = v.(map[string]any)
	}
	// A value given as it is is checked before anything renders, so that a template reading
	// it fails on the value's problem rather than on what rendering made of it.
	plain := map[string]any{}
	for name, v := range given {
		if !hasTemplate(v) {
			plain[name] = v
		}
	}
	if problems := check(req.Params, plain); len(problems) > 0 {
		return fail("%v", problems)
	}
	rendered, fromSecretKeys, err := r.render(ctx, req, given)
	if err != nil {
		return fail("%v", err)
	}
	// Back to JSON as the checks read it (numbers as json.Number), each rendered string cast
	// to its parameter's type as StackStorm casts it.
	all := map[string]any{}
	for name, v := range rendered {
		if s, ok := v.(string); ok {
			v = cast(req.Params[name].Type, s)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return fail("parameter %s: %v", name, err)
		}
		if all[name], err = pack.DecodeValue(raw); err != nil {
			return fail("parameter %s: %v", name, err)
		}
	}
	// A default taken as written is the pack's: StackStorm passes it unchecked (the loader
	// warned about one that does not fit its parameter).
	checked := maps.Clone(all)
	for name := range all {
		if _, isGiven := given[name]; !isGiven && !hasTemplate(defaultOf(req.Params[name])) {
			delete(checked, name)
		}
	}
	if problems := check(req.Params, checked); len(problems) > 0 {
		return fail("once rendered, %v", problems)
	}
	c := &call{all: all, runner: map[string]any{}, action: map[string]any{},
		secrets: slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(req.Secrets), fromSecretKeys...))))}
	runnerParams := pack.StackStormRunnerParams(req.RunnerType)
	for name, v := range all {
		if _, isRunner := runnerParams[name]; isRunner {
			c.runner[name] = v
		} else {
			c.action[name] = v
		}
	}
	remote := req.RunnerType == pack.RunnerRemoteShellCmd || req.RunnerType == pack.RunnerRemoteShellScript
	if sudo, _ := c.runner["sudo"].(bool); sudo && !remote {
		return fail("sudo is not supported: attune runs every action as its worker's action user, and gives it no way to become root")
	}
	return c, nil
}

// timeout is the run's bound: the timeout parameter (seconds), else the request's.
func (c *call) timeout(req runtime.Request) time.Duration {
	if n, ok := c.runner["timeout"].(json.Number); ok {
		if s, err := n.Int64(); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return req.Timeout
}

// str reads a runner parameter as a string ("" when absent or null).
func (c *call) str(name string) string {
	s, _ := c.runner[name].(string)
	return s
}

// env is the env runner parameter as KEY=VALUE pairs, after the variables StackStorm gives
// every action that hold no credential (ST2_ACTION_PACK_NAME, ST2_ACTION_EXECUTION_ID). A
// value that holds a secret parameter's value is refused: a process's environment is
// readable in /proc.
func (c *call) env(req runtime.Request) ([]string, error) {
	m, _ := c.runner["env"].(map[string]any)
	packRef, _, _ := strings.Cut(req.Action, ".")
	out := []string{"ST2_ACTION_PACK_NAME=" + packRef, "ST2_ACTION_EXECUTION_ID=" + req.ExecutionID}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return nil, fmt.Errorf("env: %q is not an environment variable name", name)
		}
		value := pyStr(m[name])
		for _, secret := range c.secrets {
			if s, ok := c.all[secret].(string); ok && s != "" && strings.Contains(value, s) {
				return nil, fmt.Errorf("env: %s would carry the secret parameter %s into the environment, which other processes can read", name, secret)
			}
		}
		out = append(out, name+"="+value)
	}
	return out, nil
}

// noop is StackStorm's noop runner: it does nothing and succeeds.
func noop(context.Context, runtime.Request) runtime.Outcome {
	code := 0
	return runtime.Outcome{Status: "completed", ExitCode: &code,
		Result: json.RawMessage(`{"failed":false,"return_code":0,"stderr":"","stdout":"","succeeded":true}`)}
}

// resultOf encodes a result; a failure to is a bug in this package.
func resultOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("st2: encode result %T: %v", v, err))
	}
	return b
}

// pyStr writes a value as Python's str() does for the scalars and as JSON for the rest, the
// way StackStorm puts a parameter on a command line or in the environment.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

var errNoKV = errors.New("this worker has no key-value store")

// cast reads a string as the declared type when it is one, as StackStorm casts rendered
// parameters: "5" for an integer, "true" for a boolean, JSON text for a list or an object.
// Anything else stays the string, for the type check to name.
func cast(t pack.ParamType, s string) any {
	switch t {
	case pack.ParamInteger, pack.ParamNumber, pack.ParamArray, pack.ParamObject:
		var v any
		if err := json.Unmarshal([]byte(s), &v); err == nil {
			return v
		}
	case pack.ParamBoolean:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1", "yes", "on":
			return true
		case "false", "0", "no", "off":
			return false
		}
	}
	return s
}

// check checks values against their parameters' specs and schemas.
func check(specs pack.Params, values map[string]any) pack.InvalidParamsError {
	var problems pack.InvalidParamsError
	for _, name := range slices.Sorted(maps.Keys(values)) {
		spec, ok := specs[name]
		if !ok || values[name] == nil {
			continue
		}
		if e := spec.Check(name, values[name]); e != nil {
			problems = append(problems, e)
			continue
		}
		if spec.Schema != nil {
			if err := paramschema.Check(spec.Schema, values[name]); err != nil {
				problems = append(problems, &pack.ParamError{Param: name, Reason: err.Error()})
			}
		}
	}
	return problems
}

// hasTemplate reports Jinja anywhere in v.
func hasTemplate(v any) bool {
	found := false
	walkStrings(v, func(s string) { found = found || strings.Contains(s, "{{") || strings.Contains(s, "{%") })
	return found
}

// defaultOf is a parameter's default, decoded (nil when it has none).
func defaultOf(p pack.Param) any {
	if p.Default == nil {
		return nil
	}
	v, _ := pack.DecodeValue(p.Default)
	return v
}

// masked runs run with the run's output masked for the rendered values of c's secrets, and
// masks them in its outcome: the registry masks the values as requested, which for a
// parameter rendered from the key-value store is the template, not the secret.
func (c *call) masked(req runtime.Request, run func(runtime.Request) runtime.Outcome) runtime.Outcome {
	values, err := json.Marshal(c.all)
	if err != nil || len(c.secrets) == 0 {
		return run(req)
	}
	if req.Output != nil {
		out := runtime.MaskOutput(req.Output, values, c.secrets)
		defer out.Flush()
		req.Output = out
	}
	return runtime.Redact(run(req), values, c.secrets)
}
