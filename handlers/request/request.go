// Package request is the "run this action" use case of the API and the CLI
// (POST /api/v1/executions, `attune run ACTION k=v`, `attune execution rerun ID`): it checks
// the parameters against the action's schema before anything is recorded, so a bad request
// is answered with the offending field and leaves no trace in the log, seals the secret
// parameters, and records ExecutionRequested under a fresh id. It also answers
// `attune rule test`, which tries a rule on an event without recording anything.
package request

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/internal/actionparams"
)

var (
	// ErrUnknownAction says no live pack defines the action (API: 404).
	ErrUnknownAction = errors.New("unknown action")
	// ErrUnknownExecution says there is no execution to re-run (API: 404).
	ErrUnknownExecution = errors.New("unknown execution")
)

// ValidationError is a request the action's schema refuses (API: 422). Field names the
// first offending parameter ("" for the parameters as a whole); Problems lists them all.
type ValidationError struct {
	Field    string
	Reason   string
	Problems []*pack.ParamError
}

func (e *ValidationError) Error() string {
	if len(e.Problems) > 1 {
		return pack.InvalidParamsError(e.Problems).Error()
	}
	if e.Field == "" {
		return e.Reason
	}
	return fmt.Sprintf("parameter %q: %s", e.Field, e.Reason)
}

// Log is what the use cases need of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Catalog is what the use cases need of projections/registry.
type Catalog interface {
	Action(ref string) (pack.Action, bool)
}

// Run is a request to run an action.
type Run struct {
	Action string
	// Parameters is a JSON object in plaintext; secret values are sealed before recording.
	Parameters json.RawMessage
	Actor      string
	TraceTag   string
	// CorrelationID ties the execution to the caller's request; defaults to the execution's
	// own id, which makes it the root of its causal tree.
	CorrelationID string
	// ClaimID, when set, decides the execution's id once the request is known to be valid:
	// it gets a fresh id and returns the one to use (an idempotency key's first request's
	// id). The append then goes into that stream with NoStream, and a stream that already
	// exists is the first request's execution, so the answer is its id and nothing is
	// created twice.
	ClaimID func(ctx context.Context, fresh string) (string, error)
}

// Request records an execution of req.Action and returns its id. Nothing is recorded when
// the action is unknown (ErrUnknownAction) or the parameters break its schema
// (*ValidationError).
func Request(ctx context.Context, log Log, catalog Catalog, box *secret.Box, req Run) (string, error) {
	r, err := Submit(ctx, log, catalog, box, req)
	return r.ID, err
}

// Requested is an execution as the request left it in the log, for an answer that does not
// wait for the read models: its ExecutionRequested (parameters sealed), its metadata, and
// its status.
type Requested struct {
	ID       string
	Event    execution.ExecutionRequested
	Metadata event.Metadata
	Status   execution.Status
	// New is true when this request appended the execution; false when an earlier request
	// with the same idempotency key had (ClaimID), whose execution is then read from the log
	// as it is now (Status, UpdatedAt).
	New bool
	// CreatedAt is when it was requested: the clock of this process at the append for a new
	// one (the log stamps its own recorded_at a moment later), the log's recorded_at for an
	// earlier request's; UpdatedAt is its latest event's.
	CreatedAt, UpdatedAt time.Time
}

// Submit is Request returning what the log holds of the execution, so that the API answers
// with it at once (POST /api/v1/executions) instead of polling the read model.
func Submit(ctx context.Context, log Log, catalog Catalog, box *secret.Box, req Run) (Requested, error) {
	return request(ctx, log, catalog, box, req, link{})
}

// link ties a new execution to the one it re-runs.
type link struct {
	rerunOf     string
	fromTask    string
	failedItems bool
}

// Rerun records a new execution of the action an earlier one ran, with its parameters (the
// sealed secrets included) and overrides merged over them at the top level; the new
// execution names the old one in RerunOf. The action is validated as it is now.
func Rerun(ctx context.Context, log Log, catalog Catalog, box *secret.Box, executionID string, overrides json.RawMessage, actor string) (string, error) {
	recorded, err := log.ReadStream(ctx, execution.StreamID(executionID))
	if err != nil {
		return "", fmt.Errorf("re-run execution %s: %w", executionID, err)
	}
	if len(recorded) == 0 {
		return "", fmt.Errorf("re-run execution %s: %w", executionID, ErrUnknownExecution)
	}
	first, err := recorded[0].Decode()
	if err != nil {
		return "", fmt.Errorf("re-run execution %s: %w", executionID, err)
	}
	old, ok := first.(*execution.ExecutionRequested)
	if !ok {
		return "", fmt.Errorf("re-run execution %s: its stream opens with %s, not ExecutionRequested", executionID, first.EventType())
	}
	params, err := merge(old.Parameters, overrides)
	if err != nil {
		return "", err
	}
	req := Run{Action: old.Action, Parameters: params, Actor: actor, TraceTag: recorded[0].Metadata.TraceTag}
	r, err := request(ctx, log, catalog, box, req, link{rerunOf: old.ExecutionID})
	return r.ID, err
}

// DisabledReason is why a run of a disabled action is refused.
func DisabledReason(ref string) string {
	return fmt.Sprintf("action %s is disabled (enabled: false in its metadata): enable it in the pack and load the pack again to run it", ref)
}

func request(ctx context.Context, log Log, catalog Catalog, box *secret.Box, req Run, l link) (Requested, error) {
	action, err := lookup(ctx, log, catalog, req.Action)
	if err != nil {
		return Requested{}, err
	}
	if action.Disabled {
		return Requested{}, &ValidationError{Field: "action", Reason: DisabledReason(action.Ref)}
	}
	params, invalid, err := actionparams.Prepare(box, req.Action, action.Parameters, req.Parameters)
	if err != nil {
		return Requested{}, fmt.Errorf("request %s: %w", req.Action, err)
	}
	if invalid != nil {
		var problems pack.InvalidParamsError
		errors.As(invalid, &problems)
		ve := &ValidationError{Problems: problems}
		if len(problems) > 0 {
			ve.Field, ve.Reason = problems[0].Param, problems[0].Reason
		}
		return Requested{}, ve
	}
	id := ulid.Make().String()
	if req.ClaimID != nil {
		if id, err = req.ClaimID(ctx, id); err != nil {
			return Requested{}, fmt.Errorf("request %s: %w", req.Action, err)
		}
	}
	requested := execution.ExecutionRequested{
		ExecutionID:      id,
		Action:           action.Ref,
		RunnerType:       string(action.RunnerType),
		Parameters:       params,
		RerunOf:          l.rerunOf,
		RerunFromTask:    l.fromTask,
		RerunFailedItems: l.failedItems,
	}
	md := event.Metadata{CorrelationID: req.CorrelationID, Actor: req.Actor, TraceTag: req.TraceTag}
	if md.CorrelationID == "" {
		md.CorrelationID = id
	}
	p, err := eventstore.NewProposed(requested, md)
	if err != nil {
		return Requested{}, err
	}
	// At the log's precision (PostgreSQL keeps microseconds): the answer to a replay, read
	// from the log, then says the same time, and the append's own time is never before it.
	at := time.Now().Truncate(time.Microsecond)
	if _, err := log.Append(ctx, execution.StreamID(id), eventstore.NoStream, p); err != nil {
		var conflict *eventstore.VersionConflictError
		if req.ClaimID != nil && errors.As(err, &conflict) {
			return recorded(ctx, log, id) // a retry of a request whose execution is recorded already
		}
		return Requested{}, fmt.Errorf("request %s: %w", req.Action, err)
	}
	return Requested{ID: id, Event: requested, Metadata: md, Status: execution.Requested, New: true, CreatedAt: at, UpdatedAt: at}, nil
}

// recorded reads an execution an earlier request recorded, as the log holds it now.
func recorded(ctx context.Context, log Log, id string) (Requested, error) {
	stream := execution.StreamID(id)
	recs, err := log.ReadStream(ctx, stream)
	if err != nil {
		return Requested{ID: id}, fmt.Errorf("read %s: %w", stream, err)
	}
	events := make([]event.Event, len(recs))
	for i, r := range recs {
		if events[i], err = r.Decode(); err != nil {
			return Requested{ID: id}, fmt.Errorf("read %s: %w", stream, err)
		}
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return Requested{ID: id}, fmt.Errorf("read %s: %w", stream, err)
	}
	first, _ := events[0].(*execution.ExecutionRequested) // FromEvents checked it opens with one
	return Requested{
		ID: id, Event: *first, Metadata: recs[0].Metadata, Status: x.Status(),
		CreatedAt: recs[0].RecordedAt, UpdatedAt: recs[len(recs)-1].RecordedAt,
	}, nil
}

// lookup finds a live action: in the catalogue, or, when the catalogue has not caught up
// with a pack loaded a moment ago, in the pack's stream, the truth the catalogue folds.
func lookup(ctx context.Context, log Log, catalog Catalog, ref string) (pack.Action, error) {
	if a, ok := catalog.Action(ref); ok {
		return a, nil
	}
	packRef, _, ok := strings.Cut(ref, ".")
	if !ok {
		return pack.Action{}, fmt.Errorf("action %q: %w (an action ref is <pack>.<name>)", ref, ErrUnknownAction)
	}
	recorded, err := log.ReadStream(ctx, pack.StreamID(packRef))
	if err != nil {
		return pack.Action{}, fmt.Errorf("look up action %s: %w", ref, err)
	}
	events := make([]event.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return pack.Action{}, fmt.Errorf("look up action %s: %w", ref, err)
		}
		events = append(events, e)
	}
	if cur := pack.Current(events); cur != nil {
		if i := slices.IndexFunc(cur.Actions, func(a pack.Action) bool { return a.Ref == ref }); i >= 0 {
			return cur.Actions[i], nil
		}
	}
	return pack.Action{}, fmt.Errorf("action %s: %w", ref, ErrUnknownAction)
}

// merge lays overrides over base, both JSON objects, at the top level.
func merge(base, overrides json.RawMessage) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	for _, raw := range []json.RawMessage{base, overrides} {
		if t := strings.TrimSpace(string(raw)); t == "" || t == "null" {
			continue
		}
		var layer map[string]json.RawMessage
		if err := json.Unmarshal(raw, &layer); err != nil {
			return nil, &ValidationError{Reason: "parameters must be a JSON object"}
		}
		for k, v := range layer {
			m[k] = v
		}
	}
	return json.Marshal(m)
}
