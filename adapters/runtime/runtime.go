// Package runtime runs one execution of an action and reports how it ended (design §5). It is
// pure execution: no bus, no store. A worker asks a Registry to Run a Request and turns the
// Outcome into the terminal ExecutionStatusChanged.
//
// The runtimes live in sub-packages: process (shell, python, node scripts in their own process
// group), builtin (core.noop, core.echo, core.sleep, core.http, core.local, in-process) and host
// (finds the interpreters this machine has and builds the Registry from them).
//
// Parameters reach an action only as JSON on stdin (process runtimes) or as a Go value
// (builtins), never in argv or the environment, and the Registry masks the values of secret
// parameters in everything an Outcome carries, because that ends up in the immutable log.
package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// DefaultTimeout bounds a Request that sets no Timeout (StackStorm's default action timeout).
const DefaultTimeout = 10 * time.Minute

// Request is one execution to run.
type Request struct {
	ExecutionID string
	Action      string // ref, e.g. examples.shout; selects the builtin for RunnerBuiltin
	// RunnerType may be an alias (sh, bash, python3, nodejs); the Registry canonicalises it.
	RunnerType pack.RunnerType
	// EntryPoint is the absolute path of the script (process runtimes); empty for builtins.
	EntryPoint string
	// Parameters is the JSON object of parameters: already decrypted and complete (defaults
	// applied, validated). Empty means {}.
	Parameters json.RawMessage
	// Secrets names the parameters declared secret. Their values are masked in the Outcome.
	Secrets []string
	// Timeout bounds the run; 0 means DefaultTimeout.
	Timeout time.Duration
	// Params are the action's parameter specs: StackStorm's runners place a script's
	// arguments by them and tell runner parameters from the action's own.
	Params pack.Params
	// PackDir is the action's pack's directory on this host; PackConfig its configuration
	// (StackStorm's config_context and self.config).
	PackDir    string
	PackConfig json.RawMessage
	// OutputSchema, when set, is what the run's output (OutputKey of its result) must satisfy
	// (a StackStorm action's output_schema); the worker checks it once the run completed.
	OutputSchema json.RawMessage
	OutputKey    string
	// Interpreter, when set, runs the entry point instead of the runner's own interpreter:
	// the python of the pack's virtualenv (adapters/runtime/packenv). Process runtimes only.
	Interpreter string
	// Env is added to the environment of a process runtime's child (NODE_PATH of the pack's
	// node_modules). Never a secret: a process's environment is readable in /proc.
	Env []string
	// Output, when set, receives the output while the action runs (process runtimes). The
	// Registry masks secrets in it as in the Outcome (MaskOutput) and flushes it before Run
	// returns. The Outcome still carries the capped output whole.
	Output OutputSink
}

// Outcome is how a run ended: always a terminal status (completed, failed, timeout or
// cancelled), never an error, because every way an action can end is something the log
// records.
type Outcome struct {
	Status   execution.Status
	ExitCode *int // process runtimes and core.local; a process killed by signal N has -N
	// Result is the action's result: for a script, its stdout when that is one JSON value,
	// otherwise the text as a JSON string; nil when it printed nothing.
	Result    json.RawMessage
	Stdout    string
	Stderr    string
	Truncated bool   // Stdout or Stderr (or core.http's body) hit the size cap
	Reason    string // why it did not complete; empty when it did
}

// Execution is the outcome as the execution aggregate takes it (execution.Transition).
func (o Outcome) Execution(workerID string) execution.Outcome {
	return execution.Outcome{
		Reason:          o.Reason,
		WorkerID:        workerID,
		Result:          o.Result,
		ExitCode:        o.ExitCode,
		Stdout:          o.Stdout,
		Stderr:          o.Stderr,
		OutputTruncated: o.Truncated,
	}
}

// Runner runs executions of one runtime. Cancelling ctx cancels the run: Run then returns
// once the action has stopped, with status cancelled (or whatever it reached before).
type Runner interface {
	Run(ctx context.Context, req Request) Outcome
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, req Request) Outcome

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, req Request) Outcome { return f(ctx, req) }

// ErrTimedOut is the cause of a context ended by WithTimeout.
var ErrTimedOut = errors.New("timed out")

// WithTimeout bounds ctx by d (DefaultTimeout when d is 0) with a cause that tells a timeout
// apart from a cancellation of the parent; see Interrupted.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	d = cmp.Or(d, DefaultTimeout)
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("%w after %s", ErrTimedOut, d))
}

// Interrupted says how a run whose ctx has ended ends: timeout when WithTimeout's deadline
// passed, cancelled otherwise (the worker cancelled it, or is shutting down), with the
// context's cause as the reason.
func Interrupted(ctx context.Context) (execution.Status, string) {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrTimedOut) {
		return execution.Timeout, cause.Error()
	}
	if cause == nil || errors.Is(cause, context.Canceled) {
		return execution.Cancelled, "cancelled"
	}
	return execution.Cancelled, "cancelled: " + cause.Error()
}

// Failed is the outcome of a run that could not happen or went wrong outside the action.
func Failed(format string, args ...any) Outcome {
	return Outcome{Status: execution.Failed, Reason: fmt.Sprintf(format, args...)}
}
