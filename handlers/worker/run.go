package worker

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/packenv"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// catalogWait bounds how long a job waits for the catalogue to reach the event that placed
// it; the catalogue follows the log, so this is a lag, never a real wait.
const catalogWait = 30 * time.Second

// runJob starts, runs and reports one execution.
func (w *Worker) runJob(j job) {
	ctx, cancel := context.WithCancelCause(w.life)
	defer cancel(nil)
	// Registered before running is appended, so that a cancel (which can only follow
	// running) always finds the run.
	w.mu.Lock()
	w.running[j.executionID] = cancel
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, j.executionID)
		w.mu.Unlock()
	}()

	// Everything that can be done before the process starts is done first, so that the log
	// says running only once the process may start: a worker that dies before leaves the
	// execution scheduled, which is placed again, rather than running, which is abandoned.
	// The fold is the one the job was accepted on: if the execution has moved on since
	// (cancelled, placed elsewhere), begin's append conflicts and finds out.
	placed := j.placed.State.x
	if placed.Status() != execution.Scheduled || placed.WorkerID() != w.id {
		return
	}
	req, failed, unready := w.prepare(ctx, placed, j)
	if ctx.Err() != nil {
		return // stopping or declared lost before the run began: it goes back to scheduling
	}
	if unready != nil {
		// Nothing is wrong with the execution: this worker cannot start it now (its
		// catalogue is behind, the database away). It goes back to scheduling, to run here
		// or elsewhere once a worker can, instead of failing for the worker's trouble.
		w.log.Warn("handing back an execution this worker cannot start now", "execution_id", j.executionID, "error", unready.Error())
		if err := w.handBack(w.life, j, unready.Error()); err != nil {
			w.log.Error("hand back", "execution_id", j.executionID, "error", err.Error())
		}
		return
	}
	running, runningID, ok := w.begin(j)
	if !ok {
		return
	}
	out := failed
	if out == nil {
		var end func(context.Context)
		if w.cfg.LiveOutput != nil {
			req.Output, end = w.cfg.LiveOutput(req.ExecutionID)
		}
		o := w.cfg.Runner.Run(ctx, req)
		if end != nil {
			end(context.WithoutCancel(w.life)) // a stopping worker still writes what it has
		}
		o = checkOutput(req, o)
		out = &o
	}
	md := j.cause.Metadata.Caused(runningID)
	x := running.State.x
	err := w.settle(w.life, md, x.ID(), &running, func(x *execution.Execution) (execution.Status, execution.Outcome, bool) {
		return w.outcome(x, *out, context.Cause(ctx))
	})
	if err != nil {
		w.log.Error("report outcome", "execution_id", x.ID(), "status", string(out.Status), "error", err.Error())
	}
}

// begin appends scheduled → running, with the version it read: of two deliveries of one
// placement, or a cancel landing meanwhile, only one outcome is possible. ok is false when
// the execution is no longer scheduled here. It returns the execution folded with running
// applied, for settle to start from.
func (w *Worker) begin(j job) (running decide.Folded[placed], runningID string, ok bool) {
	var sent *eventstore.Proposed // the running event of an earlier attempt
	var ch execution.ExecutionStatusChanged
	res, err := w.change(w.life, j.executionID, &j.placed, func(_ context.Context, f decide.Folded[placed]) (decide.Decision, error) {
		cur := f.State.x
		running, ok = f, false
		if sent != nil && cur.Status() == execution.Running && cur.WorkerID() == w.id && f.State.holds(sent.ID) {
			// The earlier append committed although its answer was lost (the connection died
			// at COMMIT): the log holds our very event, so the run is ours to start —
			// dropping it would leave the execution running with nobody running it.
			runningID, ok = sent.ID.String(), true
			return decide.Decision{}, nil
		}
		if cur.Status() != execution.Scheduled || cur.WorkerID() != w.id {
			return decide.Decision{}, nil
		}
		var err error
		if ch, err = cur.Transition(execution.Running, execution.Outcome{WorkerID: w.id}); err != nil {
			return decide.Decision{}, permanent(err)
		}
		p, err := eventstore.NewProposed(ch, j.cause.Metadata.Caused(j.cause.ID.String()))
		if err != nil {
			return decide.Decision{}, permanent(err)
		}
		sent = &p
		runningID, ok = p.ID.String(), true
		return decide.Decision{Proposed: []eventstore.Proposed{p}}, nil
	})
	if err != nil {
		w.log.Error("start execution", "execution_id", j.executionID, "error", err.Error())
		return decide.Folded[placed]{}, "", false
	}
	if res.Appended {
		if err := running.State.x.Apply(ch); err != nil {
			w.log.Error("start execution", "execution_id", j.executionID, "error", err.Error())
			return decide.Folded[placed]{}, "", false
		}
		running.Version = res.Version
		running.State.ids = append(running.State.ids, sent.ID)
	}
	return running, runningID, ok
}

// outcome decides the status a finished run reports, on the execution as the log has it now.
func (w *Worker) outcome(x *execution.Execution, out runtime.Outcome, cause error) (execution.Status, execution.Outcome, bool) {
	o := out.Execution(w.id)
	to := out.Status
	switch to {
	case execution.Completed, execution.Failed, execution.Timeout, execution.Cancelled:
	default:
		to, o.Reason = execution.Failed, fmt.Sprintf("the %s runner ended with status %q, which is not an outcome", x.Runtime(), out.Status)
	}
	switch x.Status() {
	case execution.Canceling:
		return to, o, true // cancelled, or how it ended before the cancel landed
	case execution.Running:
		if to == execution.Cancelled {
			// Nobody asked for a cancel (it would be canceling): the worker stopped the run.
			o.Reason = fmt.Sprintf("worker %s: %v", w.id, cmp.Or(cause, errors.New(out.Reason)))
			return execution.Abandoned, o, true
		}
		return to, o, true
	}
	// Settled without this worker: abandoned by the reaper while the worker was cut off.
	w.log.Warn("execution settled while it ran; its outcome is dropped", "execution_id", x.ID(),
		"status", string(x.Status()), "outcome", string(out.Status))
	return "", execution.Outcome{}, false
}

// settle appends the status decide chooses, starting from known (the fold begin left) and
// deciding again on what the log holds after each conflict (a cancel that landed during the
// run); decide returns false when there is nothing to append.
func (w *Worker) settle(ctx context.Context, md event.Metadata, executionID string, known *decide.Folded[placed],
	decideStatus func(*execution.Execution) (execution.Status, execution.Outcome, bool)) error {
	_, err := w.change(ctx, executionID, known, func(_ context.Context, f decide.Folded[placed]) (decide.Decision, error) {
		x := f.State.x
		to, o, ok := decideStatus(x)
		if !ok {
			return decide.Decision{}, nil
		}
		ch, err := x.Transition(to, o)
		if err != nil {
			return decide.Decision{}, permanent(err)
		}
		return decide.Decision{Events: []event.Event{ch}, Metadata: md}, nil
	})
	if err != nil {
		return fmt.Errorf("record the outcome of execution %s: %w", executionID, err)
	}
	return nil
}

// prepare builds the request of the run: the action from the catalogue, the parameters
// opened, the entry point checked against its registered digest. What goes wrong with the
// execution is the outcome the run reports (failed; the log records every way an execution
// ends); unready says instead that this worker cannot start it now, for a reason of its own.
func (w *Worker) prepare(ctx context.Context, x *execution.Execution, j job) (_ runtime.Request, failed *runtime.Outcome, unready error) {
	fail := func(format string, args ...any) (runtime.Request, *runtime.Outcome, error) {
		o := runtime.Failed(format, args...)
		return runtime.Request{}, &o, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, catalogWait)
	err := w.cfg.Catalog.WaitFor(waitCtx, j.cause.Position)
	cancel()
	if err != nil {
		return runtime.Request{}, nil, fmt.Errorf("worker %s could not read the action catalogue: %w", w.id, err)
	}
	act, ok := w.cfg.Catalog.Action(x.Action())
	if !ok {
		return fail("action %s is not registered", x.Action())
	}
	if act.Disabled {
		// A rule or a workflow asked for it: the request API refuses it up front.
		return fail("action %s is disabled (enabled: false in its metadata)", act.Ref)
	}
	params, err := w.open(x.Parameters(), x.Action())
	if err != nil {
		return fail("%v", err)
	}
	req := runtime.Request{
		ExecutionID: x.ID(),
		Action:      x.Action(),
		RunnerType:  pack.RunnerType(cmp.Or(x.Runtime(), x.RunnerType(), string(act.RunnerType))),
		Parameters:  params,
		Secrets:     secretNames(act, x.Parameters()),
		// The request's timeout (a workflow task's) overrides the action's.
		Timeout: time.Duration(cmp.Or(x.TimeoutSeconds(), act.TimeoutSeconds)) * time.Second,
	}
	if act.RunnerType.IsStackStorm() {
		req.Params = act.Parameters
		req.OutputSchema, req.OutputKey = act.OutputSchema, act.RunnerType.OutputKey()
		packRef, _, _ := strings.Cut(act.Ref, ".")
		p, _ := w.cfg.Catalog.Pack(packRef)
		p.Ref = packRef
		req.PackDir, req.PackConfig = PackDir(w.cfg.PacksDir, p), p.Config
	}
	if act.EntryPoint != "" {
		if req.EntryPoint, err = w.entryPoint(act); err != nil {
			return fail("%v", err)
		}
	}
	if err := w.packEnv(ctx, &req); err != nil {
		return fail("%v", err)
	}
	return req, nil, nil
}

// packEnv points a python or node run at its pack's dependency environment, when the pack
// declares one (requirements.txt, package.json): the virtualenv's python runs the script,
// NODE_PATH finds the node_modules.
func (w *Worker) packEnv(ctx context.Context, req *runtime.Request) error {
	if w.cfg.PackEnvs == nil {
		return nil
	}
	var kind packenv.Kind
	switch req.RunnerType {
	case pack.RunnerPython, "python3", pack.RunnerPythonScript:
		kind = packenv.Python
	case pack.RunnerNode, "nodejs":
		kind = packenv.Node
	default:
		return nil
	}
	packRef, _, _ := strings.Cut(req.Action, ".")
	p, _ := w.cfg.Catalog.Pack(packRef)
	p.Ref = packRef
	dir := PackDir(w.cfg.PacksDir, p)
	if dir == "" {
		return nil
	}
	env, declared, err := w.cfg.PackEnvs.Wait(ctx, packRef, dir, kind)
	switch {
	case err != nil:
		return err
	case !declared:
		return nil
	case kind == packenv.Python:
		req.Interpreter = env.Python()
	default:
		req.Env = append(req.Env, "NODE_PATH="+env.NodePath())
	}
	return nil
}

// PackDir is where the pack's files are on this host: <packsDir>/<ref> when the host keeps
// its packs there, else the directory the pack was registered from ("" if none).
func PackDir(packsDir string, p pack.PackRegistered) string {
	if packsDir != "" && p.Ref != "" {
		return filepath.Join(packsDir, p.Ref)
	}
	return p.Path
}

// open decrypts the sealed parameters of an execution of action, right before they go to the
// runner; each opens only if it was sealed for that parameter of that action.
func (w *Worker) open(params json.RawMessage, action string) (json.RawMessage, error) {
	if w.cfg.Box == nil {
		if names := sealed(params); len(names) > 0 {
			return nil, fmt.Errorf("parameters %s are secret, and this worker has no secret key to open them", strings.Join(names, ", "))
		}
		return params, nil
	}
	out, err := w.cfg.Box.OpenParams(params, action)
	if err != nil {
		return nil, fmt.Errorf("open secret parameters: %w", err)
	}
	return out, nil
}

// sealed names the top-level parameters that are sealed, sorted.
func sealed(params json.RawMessage) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(params, &m) != nil {
		return nil
	}
	var names []string
	for k, v := range m {
		if secret.IsSealed(v) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// secretNames are the parameters whose values the runtime masks in the outcome: those the
// action declares secret, and any that arrived sealed.
func secretNames(act pack.Action, params json.RawMessage) []string {
	names := sealed(params)
	for name, p := range act.Parameters {
		if p.Secret {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// entryPoint is the script of act on this host, checked against the digest it was
// registered with: a script edited (or replaced) since is not what the log says ran.
func (w *Worker) entryPoint(act pack.Action) (string, error) {
	packRef, _, _ := strings.Cut(act.Ref, ".")
	p, _ := w.cfg.Catalog.Pack(packRef)
	p.Ref = packRef
	dir := PackDir(w.cfg.PacksDir, p)
	if dir == "" {
		return "", fmt.Errorf("pack %s has no directory known to this worker (set its packs directory)", packRef)
	}
	path := filepath.Join(dir, "actions", filepath.FromSlash(act.EntryPoint))
	if act.EntryPointSHA256 == "" {
		return path, nil
	}
	script, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read entry point of %s: %w", act.Ref, err)
	}
	sum := sha256.Sum256(script)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), act.EntryPointSHA256) {
		return "", fmt.Errorf("entry point changed since the pack was registered (%s)", path)
	}
	return path, nil
}
