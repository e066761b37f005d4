package timer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/sensor"
	"github.com/attune-go/attune/domain/trigger"
)

// Actor is the metadata actor of timer events.
const Actor = "timer"

// TimerRule is an enabled rule on a timer trigger.
type TimerRule struct {
	Ref           string          // the rule's ref; events carry it as Rule
	Trigger       string          // core.intervaltimer, core.crontimer or core.datetimer
	TriggerParams json.RawMessage // the rule's trigger_params
}

// Config wires Timers.
type Config struct {
	Store  eventstore.Store // required
	Clock  Clock            // default RealClock
	Logger *slog.Logger     // default slog.Default()
	// RetryDelay is the first pause after a failed append; it doubles up to a minute, and a
	// tick is given up when the next one is due. Default 100ms.
	RetryDelay time.Duration
}

// Timers runs one timer per enabled timer rule. Set replaces the rule set at any time; Run
// drives the timers until its context ends.
type Timers struct {
	store      eventstore.Store
	clock      Clock
	log        *slog.Logger
	retryDelay time.Duration

	mu      sync.Mutex
	desired map[string]timerRule
	running map[string]*runningTimer
	runCtx  context.Context // set while Run runs: where Set starts timers
}

type timerRule struct {
	TimerRule
	spec Spec
	key  string // trigger + normalised params: a change restarts the timer
}

type runningTimer struct {
	key    string
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns Timers with no rules. It panics on a nil store (a wiring error).
func New(cfg Config) *Timers {
	if cfg.Store == nil {
		panic("timer.New: nil Store")
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 100 * time.Millisecond
	}
	return &Timers{
		store:      cfg.Store,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		retryDelay: cfg.RetryDelay,
		desired:    map[string]timerRule{},
		running:    map[string]*runningTimer{},
	}
}

// Set makes rules the set of timers that run: it starts the new ones, stops those missing
// from rules, and restarts those whose trigger or trigger_params changed. A rule that is not
// a timer rule or whose params do not parse is left out (stopped if it ran) and reported in
// the returned error; the others are applied. When Set returns, no stopped timer fires again.
func (t *Timers) Set(rules []TimerRule) error {
	desired := make(map[string]timerRule, len(rules))
	var errs []error
	for _, r := range rules {
		spec, err := ParseTimerParams(r.Trigger, r.TriggerParams)
		if err != nil {
			errs = append(errs, fmt.Errorf("timer rule %s: %w", r.Ref, err))
			continue
		}
		if _, dup := desired[r.Ref]; dup {
			errs = append(errs, fmt.Errorf("timer rule %s: listed twice", r.Ref))
			continue
		}
		key, err := json.Marshal(spec.Params())
		if err != nil {
			errs = append(errs, fmt.Errorf("timer rule %s: encode params: %w", r.Ref, err))
			continue
		}
		desired[r.Ref] = timerRule{TimerRule: r, spec: spec, key: r.Trigger + " " + string(key)}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.desired = desired
	if t.runCtx != nil {
		t.reconcile()
	}
	return errors.Join(errs...)
}

// Run runs the timers until ctx ends, then stops them all. It returns nil on a normal stop.
func (t *Timers) Run(ctx context.Context) error {
	t.mu.Lock()
	if t.runCtx != nil {
		t.mu.Unlock()
		return errors.New("timer: Run called while already running")
	}
	t.runCtx = ctx
	t.reconcile()
	t.mu.Unlock()

	<-ctx.Done()

	t.mu.Lock()
	defer t.mu.Unlock()
	t.runCtx = nil
	for ref, r := range t.running {
		r.stop()
		delete(t.running, ref)
	}
	return nil
}

// reconcile brings running in line with desired. The caller holds mu; timer goroutines never
// take it, so waiting for them here cannot deadlock.
func (t *Timers) reconcile() {
	for ref, r := range t.running {
		if d, ok := t.desired[ref]; !ok || d.key != r.key {
			r.stop()
			delete(t.running, ref)
			t.log.Info("timer stopped", slog.String("rule", ref))
		}
	}
	for ref, d := range t.desired {
		if _, ok := t.running[ref]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(t.runCtx)
		r := &runningTimer{key: d.key, cancel: cancel, done: make(chan struct{})}
		t.running[ref] = r
		go func() {
			defer close(r.done)
			t.loop(ctx, d)
		}()
		t.log.Info("timer started", slog.String("rule", ref), slog.String("trigger", d.Trigger))
	}
}

func (r *runningTimer) stop() {
	r.cancel()
	<-r.done
}

// loop waits for each tick and fires it. When the timer falls behind (a suspended host, a
// store that was down) it fires the oldest missed tick and resumes at the next future one
// rather than firing a burst of stale ticks.
func (t *Timers) loop(ctx context.Context, r timerRule) {
	tick, ok := r.spec.First(t.clock.Now())
	for ok {
		if !t.waitUntil(ctx, tick) {
			return
		}
		now := t.clock.Now()
		next, more := r.spec.Next(maxTime(tick, now))
		t.fire(ctx, r, tick, next, more)
		tick, ok = next, more
	}
	t.log.Info("timer has no tick left", slog.String("rule", r.Ref))
}

// waitUntil returns true once the clock reads at or after at, false when ctx ends first. It
// re-reads the clock after every wake, since the wall clock may have been set back.
func (t *Timers) waitUntil(ctx context.Context, at time.Time) bool {
	for {
		d := at.Sub(t.clock.Now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.clock.After(d):
		}
	}
}

// fire appends the tick's event, retrying a failing store until the next tick is due.
func (t *Timers) fire(ctx context.Context, r timerRule, tick, next time.Time, more bool) {
	id := trigger.TimerEventID(r.Ref, tick).String()
	payload, err := json.Marshal(map[string]any{
		"executed_at": tick.UTC().Format(time.RFC3339Nano),
		"schedule":    r.spec.Params(),
	})
	if err != nil {
		t.log.Error("timer tick not fired: encode payload", slog.String("rule", r.Ref), slog.Any("error", err))
		return
	}
	e := trigger.EventFired{
		EventID:    id,
		Trigger:    r.Trigger,
		Payload:    payload,
		Source:     trigger.Timer,
		Rule:       r.Ref,
		OccurredAt: tick.UTC(),
	}
	log := t.log.With(slog.String("rule", r.Ref), slog.String("event_id", id), slog.Time("tick", tick))
	delay := t.retryDelay
	for {
		err := sensor.Fire(ctx, t.store, e, Actor)
		switch {
		case err == nil:
			log.Debug("timer fired")
			return
		case errors.Is(err, eventstore.ErrVersionConflict):
			log.Debug("timer tick already fired by another engine")
			return
		case ctx.Err() != nil:
			return
		}
		if more && !t.clock.Now().Add(delay).Before(next) {
			log.Error("timer tick lost: the store kept failing until the next tick", slog.Any("error", err))
			return
		}
		log.Warn("timer tick not fired yet, retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return
		case <-t.clock.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
