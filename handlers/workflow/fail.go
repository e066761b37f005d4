package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// refusal is an event the engine decided and the workflow's own fold refused: a bug or a
// stream no retry will change, as deterministic as a failure.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// deterministic reports whether err would recur on every retry of the message: a failure
// (a template that cannot render), a refused decision, a stream that does not fold, input
// no child can be created with. Anything else (the database, the broker, a version
// conflict with a concurrent decision) is left to the bus's retries.
func deterministic(err error) bool {
	var fl *failure
	var rf *refusal
	return errors.As(err, &fl) || errors.As(err, &rf) || errors.Is(err, bus.ErrPermanent)
}

// failOn ends the workflow in stream failed, with err as its reason, when err keeps it from
// advancing and no retry can fix it: a workflow never stays requested, running or canceling
// because the engine cannot decide its next step. It starts again from the log, since the
// flow that produced err may be half-updated, and appends with the parent's expected
// version: a concurrent decision makes it retry and look again. Other errors pass through.
func (en *Engine) failOn(ctx context.Context, cause eventstore.Recorded, stream string, err error) error {
	if err == nil || !deterministic(err) {
		return err
	}
	events, rerr := en.read(ctx, stream)
	if rerr != nil {
		return rerr
	}
	parent, perr := execution.FromEvents(events)
	if perr != nil || parent.ID() == "" {
		return err // not even the parent folds: nothing to fail, the message is poisoned
	}
	switch parent.Status() {
	case execution.Requested, execution.Running, execution.Pausing, execution.Paused, execution.Canceling:
	default:
		return nil // ended meanwhile
	}
	reason := en.where(parent.Action()) + ": the engine cannot advance it: " + message(err)
	var out []event.Event
	if f, ferr := fold(events); ferr == nil && f.def != nil {
		if _, done := f.st.Done(); !done {
			out = append(out, workflow.WorkflowCompleted{ExecutionID: parent.ID(), Status: execution.Failed, Error: reason})
		}
	}
	change, terr := parent.Transition(execution.Failed, execution.Outcome{Reason: reason})
	if terr != nil {
		return fmt.Errorf("%w (and failing the workflow was refused: %w)", err, terr)
	}
	out = append(out, change)
	md := cause.Metadata.Caused(cause.ID.String())
	proposed := make([]eventstore.Proposed, len(out))
	for i, ev := range out {
		p, perr := eventstore.NewProposed(ev, md)
		if perr != nil {
			return perr
		}
		proposed[i] = p
	}
	if _, aerr := en.log.Append(ctx, stream, eventstore.Exact(parent.Version()), proposed...); aerr != nil {
		return fmt.Errorf("fail workflow %s (%s): %w", parent.ID(), reason, aerr)
	}
	slog.WarnContext(ctx, "workflow failed: the engine cannot advance it",
		"workflow", parent.ID(), "action", parent.Action(), "reason", reason)
	return nil
}

// where names a workflow and its definition's file for a reason: "workflow examples.deploy
// (actions/workflows/deploy.yaml)".
func (en *Engine) where(ref string) string {
	if a, ok := en.catalog.Action(ref); ok && a.EntryPoint != "" {
		return fmt.Sprintf("workflow %s (actions/%s)", ref, a.EntryPoint)
	}
	return "workflow " + ref
}

// message is err without the bus's marker, which says nothing to a reader of the reason.
func message(err error) string {
	return strings.ReplaceAll(err.Error(), bus.ErrPermanent.Error()+": ", "")
}
