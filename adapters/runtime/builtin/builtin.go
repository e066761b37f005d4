// Package builtin runs the actions of the core pack inside the worker, selected by action ref:
// core.noop, core.echo, core.sleep, core.pause, core.uuid, core.http and core.local. Only core.local starts a process
// (through the process package, with the same group, cap and environment rules as scripts).
package builtin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
)

// DefaultMaxBodyBytes caps the response body core.http keeps.
const DefaultMaxBodyBytes = 1 << 20

// Func runs one builtin action. ctx carries the request's timeout.
type Func func(ctx context.Context, req runtime.Request) runtime.Outcome

// Config configures a Runner.
type Config struct {
	// Executor runs core.local's commands. Required.
	Executor *process.Executor
	// Shell is the bash that runs core.local's commands; by default the bash on PATH. When
	// there is none, core.local fails and the other builtins still run.
	Shell string
	// HTTPClient sends core.http's requests; default a client with no timeout of its own (the
	// action's timeout bounds the request).
	HTTPClient *http.Client
	// MaxBodyBytes caps the response body core.http keeps; default 1 MiB.
	MaxBodyBytes int
	// TempDir is core.local's default working directory; default
	// os.TempDir().
	TempDir string
	Logger  *slog.Logger
}

// Validate reports every missing dependency or invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.Executor == nil {
		errs = append(errs, errors.New("no process executor (core.local needs one)"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d, want >= 0", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Runner runs the builtin actions.
type Runner struct {
	cfg     Config
	log     *slog.Logger
	actions map[string]Func
}

var _ runtime.Runner = (*Runner)(nil)

// New returns a runner of the core builtins.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("builtin runner config: %w", err)
	}
	if cfg.Shell == "" {
		cfg.Shell, _ = exec.LookPath("bash") // "" leaves core.local failing with a reason
	}
	cfg.HTTPClient = cmp.Or(cfg.HTTPClient, &http.Client{})
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.TempDir = cmp.Or(cfg.TempDir, os.TempDir())
	r := &Runner{cfg: cfg, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))}
	r.actions = map[string]Func{
		"core.noop":  noop,
		"core.echo":  echo,
		"core.sleep": sleep,
		"core.http":  r.http,
		"core.local": r.local,
		"core.pause": pause,
		"core.uuid":  newUUID,
	}
	return r, nil
}

// Refs lists the action refs the runner runs, sorted.
func (r *Runner) Refs() []string {
	refs := make([]string, 0, len(r.actions))
	for ref := range r.actions {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	return refs
}

// Run runs the builtin named by req.Action, within req.Timeout.
func (r *Runner) Run(ctx context.Context, req runtime.Request) (o runtime.Outcome) {
	f, ok := r.actions[req.Action]
	if !ok {
		return runtime.Failed("no builtin action %q (there are %v)", req.Action, r.Refs())
	}
	ctx, cancel := runtime.WithTimeout(ctx, req.Timeout)
	defer cancel()
	// A bug in one builtin fails its execution, not the worker and every run on it.
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("builtin action panicked", "execution_id", req.ExecutionID, "action", req.Action,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			o = runtime.Failed("builtin %s panicked: %v", req.Action, p)
		}
	}()
	return f(ctx, req)
}

// decode reads the parameters into the fields of into.
func decode(req runtime.Request, into any) error {
	if len(bytes.TrimSpace(req.Parameters)) == 0 {
		return nil
	}
	if err := json.Unmarshal(req.Parameters, into); err != nil {
		return fmt.Errorf("read the parameters of %s: %w", req.Action, err)
	}
	return nil
}

// result encodes v as a result, leaving <, > and & readable.
func result(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("encode the result: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// text is a JSON value as text: a string as itself, anything else as its JSON.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
