// Package retry carries out the Retry policies of packs (policies/*.yaml, type retry). It is
// two handlers, one per event type:
//
//   - Schedule, on ExecutionStatusChanged: when an execution of an action with an enabled
//     Retry policy ends in one of the policy's statuses and its chain has retries left, it
//     appends ExecutionRetryScheduled to the ended execution's stream, at the version it
//     folded. A redelivery finds it there and does nothing.
//   - Request, on ExecutionRetryScheduled: it requests the retry — the ended execution's
//     request again, with retry_of, retry_attempt and not_before — in the retry's own stream
//     with NoStream. A stream already there means it was requested.
//
// Splitting the work at the log is what makes it heal: a process that dies after the first
// append has still logged the decision, and the relay delivers ExecutionRetryScheduled to
// Request once it runs again; nothing is written twice. The retry then takes the ordinary path
// (scheduler: delayed until not_before, released by the reaper, placed on a worker).
//
// Workflow tasks (executions with a parent) are never retried by a policy: the workflow's own
// task `retry` governs them, and two retry mechanisms on one task would multiply attempts.
package retry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// Handler names are persisted identifiers: they name the handlers' queues
// (ExecutionStatusChanged.retry, ExecutionRetryScheduled.retry-request). Renaming one is a
// migration.
const (
	ScheduleName = "retry"
	RequestName  = "retry-request"
)

// Log is what the handlers need of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Catalog is the pack catalogue (projections/registry): the policies in force.
type Catalog interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Packs() []pack.PackRegistered
}

// Config configures the handlers.
type Config struct {
	Log     Log
	Catalog Catalog
	// Now is the clock a retry's delay counts from; time.Now if nil.
	Now func() time.Time
	// WaitTimeout bounds the wait for the catalogue to reach a delivered event; 10s if 0.
	WaitTimeout time.Duration
}

// Handler holds both handlers' dependencies.
type Handler struct {
	cfg Config
}

// New returns the handlers.
func New(cfg Config) *Handler {
	if cfg.Log == nil || cfg.Catalog == nil {
		panic("retry: nil log or catalogue") // wiring error
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.WaitTimeout = cmp.Or(cfg.WaitTimeout, 10*time.Second)
	return &Handler{cfg: cfg}
}

// ScheduleKeys bind Schedule's queue: the endings it may retry.
var ScheduleKeys = bus.StatusKeys(policy.RetryOn...)

// Register subscribes both handlers.
func Register(r *bus.Router, cfg Config) {
	h := New(cfg)
	r.AddStatusHandler(ScheduleName, ScheduleKeys, h.Schedule)
	r.AddHandler(RequestName, policy.ExecutionRetryScheduled{}.EventType(), h.Request)
}

// Schedule reacts to one ExecutionStatusChanged: it decides from the log whether the ended
// execution is retried, and records the decision.
func (h *Handler) Schedule(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	change, ok := payload.(*execution.ExecutionStatusChanged)
	if !ok || !slices.Contains(policy.RetryOn, change.To) {
		return nil
	}
	// The expected version makes the decision once: a second delivery that raced this one
	// conflicts, decides again, and finds the decision in the stream.
	loop := decide.Loop[ended]{Log: h.cfg.Log, Fold: foldEnded}
	_, err = loop.Run(ctx, e.StreamID, func(ctx context.Context, f decide.Folded[ended]) (decide.Decision, error) {
		ended := f.State
		if ended.Retried || ended.Cancelled || ended.ParentID != "" || !ended.Status.Terminal() {
			return decide.Decision{}, nil // decided already, or a workflow task, or not ended (a stale message)
		}
		wctx, cancel := context.WithTimeout(ctx, h.cfg.WaitTimeout)
		err := h.cfg.Catalog.WaitFor(wctx, e.Position)
		cancel()
		if err != nil {
			return decide.Decision{}, fmt.Errorf("retry of %s: wait for the catalogue: %w", ended.ID, err)
		}
		pol, ok := RetryPolicy(h.cfg.Catalog.Packs(), f.State.action)
		if !ok {
			return decide.Decision{}, nil
		}
		decided, ok, err := pol.Retry.DecideRetry(pol.Ref, ended.Ended, h.cfg.Now())
		if err != nil {
			return decide.Decision{}, bus.Permanent(err)
		}
		if !ok {
			return decide.Decision{}, nil
		}
		return decide.Decision{Events: []event.Event{decided}, Metadata: e.Metadata.Caused(e.ID.String())}, nil
	})
	if err != nil {
		return fmt.Errorf("schedule retry of %s: %w", change.ExecutionID, err)
	}
	return nil
}

// ended is an execution's end as its stream tells it, with its action.
type ended struct {
	policy.Ended
	action string
}

func foldEnded(_ string, recorded []eventstore.Recorded) (ended, error) {
	events, err := decide.Decode(recorded)
	if err != nil {
		return ended{}, err
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return ended{}, err
	}
	out := ended{Ended: policy.Ended{ID: x.ID(), Status: x.Status(), ParentID: x.ParentID(), RetryAttempt: x.RetryAttempt()}, action: x.Action()}
	for _, ev := range events {
		switch ev := ev.(type) {
		case *policy.ExecutionRetryScheduled:
			out.Retried = true
		case *execution.ExecutionStatusChanged:
			out.Cancelled = out.Cancelled || ev.To == execution.Canceling
		}
	}
	return out, nil
}

// RetryPolicy returns the enabled Retry policy that governs action: the first by ref, if
// several packs declare one.
func RetryPolicy(packs []pack.PackRegistered, action string) (pack.Policy, bool) {
	var found []pack.Policy
	for _, p := range packs {
		for _, pol := range p.Policies {
			if pol.Enabled && pol.Type == policy.Retry && pol.Retry != nil && pol.Action == action {
				found = append(found, pol)
			}
		}
	}
	if len(found) == 0 {
		return pack.Policy{}, false
	}
	return slices.MinFunc(found, func(a, b pack.Policy) int { return cmp.Compare(a.Ref, b.Ref) }), true
}

// Request reacts to one ExecutionRetryScheduled: it requests the retry it names, once.
func (h *Handler) Request(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	scheduled, ok := payload.(*policy.ExecutionRetryScheduled)
	if !ok {
		return nil
	}
	stream := execution.StreamID(scheduled.RetryExecutionID)
	existing, err := h.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if len(existing) > 0 {
		return nil // requested already
	}
	events, err := h.read(ctx, e.StreamID)
	if err != nil {
		return err
	}
	var failed *execution.ExecutionRequested
	if len(events) > 0 {
		failed, _ = events[0].(*execution.ExecutionRequested)
	}
	if failed == nil {
		return bus.Permanent(fmt.Errorf("retry of %s: stream %s does not open with ExecutionRequested", scheduled.ExecutionID, e.StreamID))
	}
	next, err := scheduled.Retry(*failed)
	if err != nil {
		return bus.Permanent(err)
	}
	proposed, err := eventstore.NewProposed(next, e.Metadata.Caused(e.ID.String()))
	if err != nil {
		return err
	}
	if _, err := h.cfg.Log.Append(ctx, stream, eventstore.NoStream, proposed); err != nil {
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return nil // another delivery requested it first
		}
		return fmt.Errorf("request retry %s of %s: %w", next.ExecutionID, scheduled.ExecutionID, err)
	}
	return nil
}

func (h *Handler) read(ctx context.Context, stream string) ([]event.Event, error) {
	recorded, err := h.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	out := make([]event.Event, 0, len(recorded))
	for _, r := range recorded {
		ev, err := r.Decode()
		if err != nil {
			return nil, bus.Permanent(err)
		}
		out = append(out, ev)
	}
	return out, nil
}
