// Package rulematch turns a trigger event into enforcements: for every enabled rule on the
// event's trigger whose criteria hold, it renders the rule's parameters and records
// EnforcementCreated. One enforcement per (event, rule): its id derives from both and it is
// appended with NoStream, so a redelivered EventFired enforces nothing twice.
package rulematch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/handlers/internal/kvscope"
)

// Name is the handler's persisted identifier: it names its queue (EventFired.rulematch).
const Name = "rulematch"

// Register subscribes the handler to trigger events.
func Register(r *bus.Router, cfg Config) {
	r.AddHandler(Name, trigger.EventFired{}.EventType(), New(cfg).Handle)
}

// Log is what the handler needs of the event store.
type Log interface {
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Catalog is what the handler needs of projections/registry.
type Catalog interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	// EnabledRulesForAt and RuleAt give the rules as of the event's position: a switch an
	// operator recorded after the event does not change what the event matches.
	EnabledRulesForAt(trigger string, at eventstore.Position) []pack.Rule
	RuleAt(ref string, at eventstore.Position) (pack.Rule, bool)
	Action(ref string) (pack.Action, bool)
	PackConfig(ref string) json.RawMessage
}

// Config wires the handler.
type Config struct {
	Log     Log
	Catalog Catalog
	// Box seals the rendered values of the action's secret parameters, so that
	// EnforcementCreated never holds them in plaintext.
	Box *secret.Box
	// System is the {{ system.x }} scope of templates; empty by default.
	System map[string]any
	// KV reads the keys of the key-value store a rule's templates name (kv.system.x,
	// kv.pack.x), once per (event, rule); nil: every key is missing.
	KV kvscope.Reader
	// WaitTimeout bounds the wait for the catalogue to reach the event; the message is
	// retried after it. Default 30s.
	WaitTimeout time.Duration
}

// Handler matches trigger events against rules; Handle is its bus.HandlerFunc.
type Handler struct {
	cfg   Config
	rules ruleeval.Cache
}

// New returns the handler. It panics on a missing dependency (a wiring error).
func New(cfg Config) *Handler {
	switch {
	case cfg.Log == nil:
		panic("rulematch: nil Log")
	case cfg.Catalog == nil:
		panic("rulematch: nil Catalog")
	case cfg.Box == nil:
		panic("rulematch: nil secret Box")
	}
	cfg.WaitTimeout = cmp.Or(cfg.WaitTimeout, 30*time.Second)
	return &Handler{cfg: cfg}
}

// Handle reacts to one EventFired.
func (h *Handler) Handle(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	fired, ok := payload.(*trigger.EventFired)
	if !ok {
		return nil
	}
	eventID, err := ulid.Parse(fired.EventID)
	if err != nil {
		return bus.Permanent(fmt.Errorf("event %s: event_id %q: %w", e.ID, fired.EventID, err))
	}
	// The catalogue as of the event at least: a rule registered before the event fired is
	// matched even if the registry's subscription is a little behind the bus.
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WaitTimeout)
	err = h.cfg.Catalog.WaitFor(wctx, e.Position)
	cancel()
	if err != nil {
		return fmt.Errorf("match event %s: %w", fired.EventID, err)
	}
	ev, err := ruleeval.EventFrom(*fired, e.RecordedAt)
	if err != nil {
		return bus.Permanent(err)
	}
	var errs []error
	for _, r := range h.rulesFor(fired, e.Position) {
		if err := h.enforce(ctx, e, eventID, ev, r); err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.Ref, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("match event %s: %w", fired.EventID, err)
	}
	return nil
}

// St2Webhook is StackStorm's webhook trigger (adapters/sensor/webhook.St2Trigger).
const St2Webhook = "core.st2.webhook"

// rulesFor lists the rules that may react to the event, each as an operator had left it when
// the event was recorded (at): a timer's tick is meant for the rule that runs the timer alone
// (its trigger_params made it), any other event for every enabled rule on its trigger.
func (h *Handler) rulesFor(fired *trigger.EventFired, at eventstore.Position) []pack.Rule {
	if fired.Trigger == St2Webhook {
		// StackStorm's webhook is one trigger for every url: an event is for the rules on
		// its url (one posted without a url, through the API, is for none).
		return slices.DeleteFunc(slices.Clone(h.cfg.Catalog.EnabledRulesForAt(fired.Trigger, at)), func(r pack.Rule) bool {
			return fired.URL == "" || pack.HookURL(r) != fired.URL
		})
	}
	if fired.Rule == "" {
		return h.cfg.Catalog.EnabledRulesForAt(fired.Trigger, at)
	}
	r, ok := h.cfg.Catalog.RuleAt(fired.Rule, at)
	if !ok || !r.Enabled || r.Trigger != fired.Trigger {
		return nil
	}
	return []pack.Rule{r}
}

// enforce matches one rule and records its enforcement, if it matches.
func (h *Handler) enforce(ctx context.Context, e eventstore.Recorded, eventID ulid.ULID, ev ruleeval.Event, r pack.Rule) error {
	created := enforcement.EnforcementCreated{
		EnforcementID: enforcement.ID(eventID, r.Ref).String(),
		Rule:          r.Ref,
		Trigger:       ev.Trigger,
		EventID:       ev.ID,
		Action:        r.Action,
		Parameters:    json.RawMessage("{}"),
	}
	compiled, err := h.rules.Get(r)
	if err != nil {
		// The loader rejects such a rule; one that slipped by is reported where a user looks.
		return h.record(ctx, e, created, "the rule does not compile: "+err.Error(), nil)
	}
	cfg, err := ruleeval.DecodeConfig(h.cfg.Catalog.PackConfig(r.Ref))
	if err != nil {
		return h.record(ctx, e, created, "the pack's config does not decode: "+err.Error(), nil)
	}
	scope := &ruleeval.Scope{
		Event:  ev,
		Config: cfg,
		System: h.cfg.System,
		// Time criteria measure from when the event was recorded, not from when the message
		// happens to be handled: a redelivery an hour later decides as the first delivery did.
		Now: e.RecordedAt,
	}
	// The store is read when the enforcement is decided: every key the rule names, in one
	// query, as it is now (an expired key is missing) and at least as of the event (a key
	// set before the event fired is seen). A redelivery after the enforcement is
	// recorded reads nothing new: the append below is a no-op then.
	var (
		store     kvscope.Values
		unopened  *kvscope.Refusal // a key that cannot be read: the run fails, if the rule matches
		criteriaK = compiled.CriteriaKV()
	)
	if refs := compiled.KVRefs(); len(refs) > 0 {
		store, err = kvscope.Load(ctx, h.cfg.KV, h.cfg.Box, packOf(r.Ref), refs, e.Position, time.Now())
		if errors.As(err, &unopened) && len(criteriaK) > 0 {
			return h.record(ctx, e, created, fmt.Sprintf("%s: criteria: %s", where(r), unopened.Reason), nil)
		}
		if err != nil && unopened == nil {
			return fmt.Errorf("rule %s: %w", r.Ref, err)
		}
		if err := store.Forbid(criteriaK, "criteria"); err != nil {
			reason := fmt.Sprintf("%s: %v", where(r), err)
			return h.record(ctx, e, created, reason, func() {
				slog.WarnContext(ctx, "rule skipped: its criteria read a secret key", "rule", r.Ref, "file", r.File, "field", "criteria", "reason", reason)
			})
		}
		scope.KV = store.Vars
	}
	// A criterion that does not hold (a criterion on a missing path is false, StackStorm's
	// semantics) is no match, and nothing is recorded: events of one trigger differ. A rule
	// that cannot be evaluated on this event at all (its expression names a field the
	// payload lacks, or fails) is neither a match nor silent: the enforcement is recorded
	// skipped with the reason, where a user looks, and logged.
	res := compiled.Match(scope)
	if res.Err != nil {
		reason := fmt.Sprintf("%s: criteria: %s", where(r), res.Reason)
		return h.record(ctx, e, created, reason, func() {
			slog.WarnContext(ctx, "rule skipped: its criteria cannot be evaluated on the event",
				"rule", r.Ref, "file", r.File, "field", "criteria", "event", ev.ID, "reason", res.Reason)
		})
	}
	if !res.Matched {
		return nil
	}
	if unopened != nil {
		created.Failure = fmt.Sprintf("%s: %s", where(r), unopened.Reason)
		return h.record(ctx, e, created, "", nil)
	}
	params, err := compiled.Render(scope)
	if err != nil {
		// A template naming something the event lacks: the run the rule asks for cannot
		// be made, and ends visibly. The enforcement carries the reason, and processing it
		// requests the execution failed with it (what `attune execution list --status
		// failed` shows), as it does for parameters the action's schema refuses.
		msg, field := err.Error(), "parameters"
		var re *ruleeval.RenderError
		if errors.As(err, &re) {
			msg, field = re.Error(), re.Where() // names the parameter and the template
		}
		created.Failure = fmt.Sprintf("%s: %s", where(r), msg)
		return h.record(ctx, e, created, "", func() {
			slog.WarnContext(ctx, "rule's parameters cannot be rendered: its execution fails",
				"rule", r.Ref, "file", r.File, "field", field, "event", ev.ID, "reason", msg)
		})
	}
	action, ok := h.cfg.Catalog.Action(r.Action)
	if !ok {
		// Without the action its secret parameters are unknown: record none of the values.
		return h.record(ctx, e, created, fmt.Sprintf("action %s is not registered", r.Action), nil)
	}
	if r.Dialect == pack.DialectStackStorm {
		// StackStorm casts each rendered value to the type the action declares.
		if params, err = ruleeval.CastParams(params, action.Parameters); err != nil {
			created.Failure = fmt.Sprintf("%s: %v", where(r), err)
			return h.record(ctx, e, created, "", func() {
				slog.WarnContext(ctx, "rule's rendered parameters do not fit the action: its execution fails", "rule", r.Ref, "file", r.File, "field", "parameters", "reason", err.Error())
			})
		}
	}
	// A secret key read by a template reaches the action sealed for that action and
	// parameter, or the run is refused where it would leak (kvscope).
	params, err = store.SealParams(h.cfg.Box, params, compiled.ParamsKV(), r.Action, action.Parameters.IsSecret)
	var refusal *kvscope.Refusal
	if errors.As(err, &refusal) {
		created.Failure = fmt.Sprintf("%s: %s", where(r), refusal.Reason)
		return h.record(ctx, e, created, "", func() {
			slog.WarnContext(ctx, "rule's parameters would leak a secret key: its execution fails", "rule", r.Ref, "file", r.File, "field", "parameters", "reason", refusal.Reason)
		})
	}
	if err != nil {
		return err
	}
	sealed, err := h.cfg.Box.SealParams(params, r.Action, action.Parameters.IsSecret)
	if err != nil {
		return h.record(ctx, e, created, "the rendered parameters are not an object: "+err.Error(), nil)
	}
	created.Parameters = sealed
	return h.record(ctx, e, created, "", nil)
}

// record appends the enforcement, with EnforcementSkipped in the same append when skip
// gives a reason, and calls recorded (if any) once it is: a redelivery logs nothing twice.
// A conflict means a previous delivery recorded it: done.
func (h *Handler) record(ctx context.Context, cause eventstore.Recorded, created enforcement.EnforcementCreated, skip string, recorded func()) error {
	md := cause.Metadata.Caused(cause.ID.String())
	events := []event.Event{created}
	if skip != "" {
		events = append(events, enforcement.EnforcementSkipped{EnforcementID: created.EnforcementID, Reason: skip})
	}
	proposed := make([]eventstore.Proposed, len(events))
	for i, ev := range events {
		p, err := eventstore.NewProposed(ev, md)
		if err != nil {
			return err
		}
		proposed[i] = p
	}
	stream := enforcement.StreamID(created.EnforcementID)
	if _, err := h.cfg.Log.Append(ctx, stream, eventstore.NoStream, proposed...); err != nil {
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return nil
		}
		return fmt.Errorf("record enforcement %s: %w", created.EnforcementID, err)
	}
	if recorded != nil {
		recorded()
	}
	return nil
}

// where names a rule and its file for a reason: "rule examples.on_ping (rules/on_ping.yaml)".
func where(r pack.Rule) string {
	if r.File == "" {
		return "rule " + r.Ref
	}
	return fmt.Sprintf("rule %s (%s)", r.Ref, r.File)
}

// packOf is the pack of a component ref: the pack whose keys kv.pack reads.
func packOf(ref string) string {
	p, _, _ := strings.Cut(ref, ".")
	return p
}
