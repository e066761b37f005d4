package admission_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/admission"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/registry"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the fake time every component of a scenario reads.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// scenario is a log on the real PostgreSQL (schema-checked as in production), a catalogue
// holding one pack with the given policies on its action p.act, a live worker with room for
// everything, and the scheduler with the admission gate, as attune serve wires them.
type scenario struct {
	t       *testing.T
	models  *readmodel.DB // the executions read model, projected when the test says (project)
	mu      sync.Mutex
	last    eventstore.Position // of the latest event appended (tracked)
	ctx     context.Context
	log     eventstore.Store
	reg     *registry.Registry
	clock   *clock
	gate    *admission.Gate
	sched   *scheduler.Scheduler
	handler *admission.Handler
}

func setup(t *testing.T, policies ...pack.Policy) *scenario {
	t.Helper()
	return setupWith(t, false, policies...)
}

// setupOrdered is setup with the gate keeping request order from the executions read model,
// which the test projects when it says (project, deliver), as attune serve wires it.
func setupOrdered(t *testing.T, policies ...pack.Policy) *scenario {
	t.Helper()
	return setupWith(t, true, policies...)
}

func setupWith(t *testing.T, ordered bool, policies ...pack.Policy) *scenario {
	t.Helper()
	ctx := context.Background()
	schema := pgtest.New(t)
	pg, err := pgstore.New(ctx, schema.Pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, ctx: ctx, reg: registry.New(registry.Config{}), clock: &clock{now: t0}}
	s.log = tracked{Store: eventschema.Guard(pg, v), s: s}
	follow, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.reg.Follow(follow, s.log) }()
	t.Cleanup(func() { stop(); <-done })
	beats := heartbeat.New(schema.Pool)
	if _, err := beats.Beat(ctx, heartbeat.Worker{ID: "w1", Name: "w1", Host: "h", Runtimes: []string{"shell"}, MaxConcurrency: 100}); err != nil {
		t.Fatal(err)
	}
	cfg := admission.Config{Log: s.log, Catalog: s.reg, Now: s.clock.Now, QueueDeadline: time.Hour}
	if ordered {
		s.models = readmodel.New(schema.Pool)
		cfg.Requests, cfg.CatchUp = s.models, 5*time.Second
	}
	s.gate, err = admission.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.sched, err = scheduler.New(scheduler.Config{Log: s.log, Workers: beats, TTL: time.Hour, Now: s.clock.Now, Admission: s.gate})
	if err != nil {
		t.Fatal(err)
	}
	s.handler = admission.NewHandler(s.gate, s.sched)
	for i := range policies {
		policies[i].Enabled, policies[i].Action = true, "p.act"
		policies[i].Name = strings.TrimPrefix(policies[i].Ref, "p.")
	}
	s.append(pack.StreamID("p"), pack.PackRegistered{Ref: "p", Version: "1.0.0", Actions: []pack.Action{{
		Ref: "p.act", Name: "act", RunnerType: pack.RunnerShell, EntryPoint: "act.sh",
		Parameters: pack.Params{"host": {Type: pack.ParamString}},
	}}, Policies: policies})
	return s
}

// project brings the executions read model up to the last event appended. (An event is
// readable once no older transaction is open on the server, other tests' included: it may
// take a moment.)
func (s *scenario) project() {
	s.t.Helper()
	if err := s.projectUntil(s.ctx, s.head()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scenario) projectUntil(ctx context.Context, head eventstore.Position) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		at, err := projections.CatchUp(ctx, s.log, s.models, projections.Executions, eventstore.Start)
		if err != nil {
			return err
		}
		if !at.Less(head) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("project up to %s: at %s: %w", head, at, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// tracked is the log as the scenario's components see it, noting where each append landed
// (for project).
type tracked struct {
	eventstore.Store
	s *scenario
}

func (l tracked) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	res, err := l.Store.Append(ctx, stream, expected, events...)
	if err != nil {
		return res, err
	}
	recorded, err := l.Store.ReadStream(ctx, stream)
	if err != nil {
		return res, err
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if p := recorded[len(recorded)-1].Position; l.s.last.Less(p) {
		l.s.last = p
	}
	return res, nil
}

func (s *scenario) head() eventstore.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// append writes events to a stream and folds the log into the catalogue.
func (s *scenario) append(stream string, events ...event.Event) []eventstore.Recorded {
	s.t.Helper()
	var ps []eventstore.Proposed
	for _, e := range events {
		p, err := eventstore.NewProposed(e, event.Metadata{Actor: "test"})
		if err != nil {
			s.t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if _, err := s.log.Append(s.ctx, stream, eventstore.Any, ps...); err != nil {
		s.t.Fatal(err)
	}
	recorded, err := s.log.ReadStream(s.ctx, stream)
	if err != nil {
		s.t.Fatal(err)
	}
	return recorded[len(recorded)-len(events):]
}

// request asks for runs of p.act, in order, with the given hosts; it returns their ids and
// ExecutionRequested events.
func (s *scenario) request(hosts ...string) ([]string, []eventstore.Recorded) {
	s.t.Helper()
	var ids []string
	var recs []eventstore.Recorded
	for _, h := range hosts {
		id := ulid.Make().String()
		params, _ := json.Marshal(map[string]string{"host": h})
		recs = append(recs, s.append(execution.StreamID(id), execution.ExecutionRequested{
			ExecutionID: id, Action: "p.act", RunnerType: "shell", Parameters: params,
		})...)
		ids = append(ids, id)
	}
	return ids, recs
}

// deliver hands each message to h; with the read model (setupOrdered), projected first, as
// it is in a server a moment after each append.
func (s *scenario) deliver(h func(context.Context, eventstore.Recorded) error, recs ...eventstore.Recorded) {
	s.t.Helper()
	for _, r := range recs {
		if s.models != nil {
			s.project()
		}
		if err := h(s.ctx, r); err != nil {
			s.t.Fatalf("deliver %s: %v", r.Type, err)
		}
	}
}

func (s *scenario) execution(id string) (*execution.Execution, []eventstore.Recorded) {
	s.t.Helper()
	recs, err := s.log.ReadStream(s.ctx, execution.StreamID(id))
	if err != nil {
		s.t.Fatal(err)
	}
	events := make([]event.Event, len(recs))
	for i, r := range recs {
		if events[i], err = r.Decode(); err != nil {
			s.t.Fatal(err)
		}
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		s.t.Fatal(err)
	}
	return x, recs
}

func (s *scenario) status(id string) execution.Status {
	x, _ := s.execution(id)
	return x.Status()
}

// statuses is the status of each execution.
func (s *scenario) statuses(ids ...string) []execution.Status {
	out := make([]execution.Status, len(ids))
	for i, id := range ids {
		out[i] = s.status(id)
	}
	return out
}

// queue returns the types and executions of a queue stream, "Type:index" by the ids given.
func (s *scenario) queue(ref, key string, ids []string) []string {
	s.t.Helper()
	recs, err := s.log.ReadStream(s.ctx, policy.QueueStreamID(ref, key))
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		var d struct {
			ExecutionID string `json:"execution_id"`
			FromQueue   bool   `json:"from_queue"`
		}
		_ = json.Unmarshal(r.Data, &d)
		line := fmt.Sprintf("%s:%d", strings.TrimPrefix(r.Type, "Policy"), slices.Index(ids, d.ExecutionID))
		if d.FromQueue {
			line += "(from queue)"
		}
		out = append(out, line)
	}
	return out
}

// finish runs a scheduled execution to the terminal status to, as its worker would, and
// returns the status change that ends it.
func (s *scenario) finish(id string, to execution.Status) eventstore.Recorded {
	s.t.Helper()
	x, _ := s.execution(id)
	var events []event.Event
	if x.Status() == execution.Scheduled {
		ch, err := x.Transition(execution.Running, execution.Outcome{WorkerID: "w1"})
		if err != nil {
			s.t.Fatal(err)
		}
		_ = x.Apply(ch)
		events = append(events, ch)
	}
	ch, err := x.Transition(to, execution.Outcome{Reason: "test", WorkerID: x.WorkerID()})
	if err != nil {
		s.t.Fatal(err)
	}
	recs := s.append(execution.StreamID(id), append(events, ch)...)
	return recs[len(recs)-1]
}

func want[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func one(mode policy.Mode, attributes ...string) pack.Policy {
	return pack.Policy{Ref: "p.one", Type: policy.Concurrency,
		Concurrency: &policy.ConcurrencySpec{Threshold: 1, Mode: mode, Attributes: attributes}}
}

const (
	requested  = execution.Requested
	delayed    = execution.Delayed
	scheduled  = execution.Scheduled
	completed  = execution.Completed
	cancelled  = execution.Cancelled
	failed     = execution.Failed
	abandoned  = execution.Abandoned
	scheduling = execution.Scheduling
)

func TestConcurrencyOneRunsOneAtATimeInRequestOrderAndRedeliveriesChangeNothing(t *testing.T) {
	t.Parallel()
	s := setup(t, one(policy.Enqueue))
	ids, reqs := s.request("", "", "")
	// Delivered out of order and twice: the queue is still in request order.
	s.deliver(s.sched.Handle, reqs[0], reqs[2], reqs[1], reqs[2], reqs[0], reqs[1])
	want(t, "statuses", s.statuses(ids...), []execution.Status{scheduled, delayed, delayed})
	want(t, "queue", s.queue("p.one", "", ids), []string{"SlotClaimed:0", "QueueJoined:2", "QueueJoined:1"})
	x, recs := s.execution(ids[1])
	d, _ := recs[1].Decode()
	if dl, ok := d.(*policy.ExecutionDelayed); !ok || dl.Policy != "p.one" || !dl.Deadline.Equal(t0.Add(time.Hour)) ||
		!strings.Contains(dl.Reason, "policy p.one (concurrency): 1 running, threshold 1") {
		t.Fatalf("%s delayed by %+v", x.ID(), d)
	}

	// The first ends: the slot goes to the second (requested before the third), twice delivered.
	end := s.finish(ids[0], completed)
	s.deliver(s.handler.Handle, end, end)
	want(t, "statuses", s.statuses(ids...), []execution.Status{completed, scheduled, delayed})
	_, recs = s.execution(ids[1])
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
	}
	want(t, "the second's stream", types, []string{"ExecutionRequested", "ExecutionDelayed", "ExecutionStatusChanged",
		"ExecutionReleased", "ExecutionStatusChanged", "ExecutionScheduled", "ExecutionStatusChanged"})

	// A cancel while queued gives the place back; then the second ends and nobody is left.
	x, _ = s.execution(ids[2])
	ch, _ := x.Transition(cancelled, execution.Outcome{Reason: "cancelled by test"})
	cancel := s.append(execution.StreamID(ids[2]), ch)
	s.deliver(s.handler.Handle, cancel[0])
	s.deliver(s.handler.Handle, s.finish(ids[1], abandoned))
	want(t, "queue", s.queue("p.one", "", ids), []string{"SlotClaimed:0", "QueueJoined:2", "QueueJoined:1",
		"SlotReleased:0", "SlotClaimed:1(from queue)", "SlotReleased:2", "SlotReleased:1"})

	// With the slot free, the next request runs at once.
	more, reqs := s.request("")
	s.deliver(s.sched.Handle, reqs...)
	want(t, "a later request", s.statuses(more...), []execution.Status{scheduled})
}

func TestKeyedConcurrencyLimitsEachHostOnItsOwn(t *testing.T) {
	t.Parallel()
	s := setup(t, one(policy.Enqueue, "host"))
	ids, reqs := s.request("a", "b", "a", "b")
	s.deliver(s.sched.Handle, reqs...)
	want(t, "statuses", s.statuses(ids...), []execution.Status{scheduled, scheduled, delayed, delayed})
	s.deliver(s.handler.Handle, s.finish(ids[1], completed))
	want(t, "after b's first ends", s.statuses(ids...), []execution.Status{scheduled, completed, delayed, scheduled})
	want(t, "host a's queue", s.queue("p.one", `["a"]`, ids), []string{"SlotClaimed:0", "QueueJoined:2"})
}

func TestCancelModeRefusesTheRunOverTheLimitNamingThePolicy(t *testing.T) {
	t.Parallel()
	s := setup(t, one(policy.Cancel))
	ids, reqs := s.request("", "")
	s.deliver(s.sched.Handle, reqs[0], reqs[1], reqs[1])
	want(t, "statuses", s.statuses(ids...), []execution.Status{scheduled, cancelled})
	_, recs := s.execution(ids[1])
	var change execution.ExecutionStatusChanged
	_ = json.Unmarshal(recs[len(recs)-1].Data, &change)
	if recs[1].Type != "ExecutionRefused" || !strings.Contains(change.Reason, "policy p.one") {
		t.Fatalf("refused with %s, reason %q", recs[1].Type, change.Reason)
	}
	// The refused run held nothing: its end releases nothing.
	s.deliver(s.handler.Handle, recs[len(recs)-1])
	want(t, "queue", s.queue("p.one", "", ids), []string{"SlotClaimed:0"})
}

func TestRateLimitAdmitsTwoPerWindowAndTheReaperReleasesTheRestWhenTheWindowMoves(t *testing.T) {
	t.Parallel()
	s := setup(t, pack.Policy{Ref: "p.rate", Type: policy.RateLimit,
		RateLimit: &policy.RateLimitSpec{Limit: 2, WindowSeconds: 5, Mode: policy.Enqueue}})
	ids, reqs := s.request("", "", "", "")
	s.deliver(s.sched.Handle, reqs...)
	want(t, "at once", s.statuses(ids...), []execution.Status{scheduled, scheduled, delayed, delayed})
	// Ending frees no rate.
	s.deliver(s.handler.Handle, s.finish(ids[0], completed))
	retry := func(at time.Time) {
		s.clock.Set(at)
		for _, id := range ids {
			if _, err := s.sched.Retry(s.ctx, id, at, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	}
	retry(t0.Add(4 * time.Second))
	want(t, "at +4s", s.statuses(ids...), []execution.Status{completed, scheduled, delayed, delayed})
	retry(t0.Add(5 * time.Second))
	want(t, "at +5s", s.statuses(ids...), []execution.Status{completed, scheduled, scheduled, scheduled})
}

func TestAQueueWaitEndsAtItsDeadlineAndGivesThePlaceBack(t *testing.T) {
	t.Parallel()
	s := setup(t, one(policy.Enqueue))
	ids, reqs := s.request("", "")
	s.deliver(s.sched.Handle, reqs...)
	s.clock.Set(t0.Add(time.Hour))
	if res, err := s.sched.Retry(s.ctx, ids[1], s.clock.Now(), time.Minute); err != nil || res != scheduler.Failed {
		t.Fatalf("Retry at the deadline = %s, %v", res, err)
	}
	x, recs := s.execution(ids[1])
	var change execution.ExecutionStatusChanged
	_ = json.Unmarshal(recs[len(recs)-1].Data, &change)
	if x.Status() != failed || !strings.Contains(change.Reason, "queue of policy p.one past its deadline") {
		t.Fatalf("%s (%s)", x.Status(), change.Reason)
	}
	s.deliver(s.handler.Handle, recs[len(recs)-1])
	want(t, "queue", s.queue("p.one", "", ids), []string{"SlotClaimed:0", "QueueJoined:1", "SlotReleased:1"})
}

// brokenPlacer loses every release, as a crash right after the queue stream's append would.
type brokenPlacer struct{}

func (brokenPlacer) Release(context.Context, string) (scheduler.Result, error) {
	return scheduler.Unchanged, errors.New("crashed")
}

func TestWhatACrashLeavesBetweenTheTwoStreamsIsFinished(t *testing.T) {
	t.Parallel()
	s := setup(t, one(policy.Enqueue))
	ids, reqs := s.request("", "", "")
	s.deliver(s.sched.Handle, reqs[0])

	// The gate recorded the second's place in the queue, then the process died before the
	// execution's own append: its redelivered request finds the place and finishes.
	x, _ := s.execution(ids[1])
	if a, err := s.gate.Admit(s.ctx, x, reqs[1].Position, event.Metadata{Actor: "test"}, t0); err != nil || a.Verdict != policy.Wait {
		t.Fatalf("Admit = %+v, %v", a, err)
	}
	want(t, "before the redelivery", s.statuses(ids...), []execution.Status{scheduled, requested, requested})
	s.deliver(s.sched.Handle, reqs[1], reqs[2])
	want(t, "after it", s.statuses(ids...), []execution.Status{scheduled, delayed, delayed})

	// A slot frees and the release handler claims it for the second, then dies before
	// releasing it: the reaper's pass releases it from its claim.
	broken := admission.NewHandler(s.gate, brokenPlacer{})
	end := s.finish(ids[0], completed)
	if err := broken.Handle(s.ctx, end); err == nil {
		t.Fatal("the broken release reported no error")
	}
	want(t, "claimed, not released", s.statuses(ids...), []execution.Status{completed, delayed, delayed})
	if res, err := s.sched.Retry(s.ctx, ids[1], t0, time.Minute); err != nil || res != scheduler.Placed {
		t.Fatalf("the reaper's Retry = %s, %v", res, err)
	}
	want(t, "healed", s.statuses(ids...), []execution.Status{completed, scheduled, delayed})

	// The end of the second never reaches the release handler (a poisoned message): the
	// head of the queue finds the slot held by an ended execution and takes it.
	s.finish(ids[1], execution.Failed)
	if res, err := s.sched.Retry(s.ctx, ids[2], t0, time.Minute); err != nil || res != scheduler.Placed {
		t.Fatalf("the head's Retry = %s, %v", res, err)
	}
	want(t, "queue", s.queue("p.one", "", ids), []string{"SlotClaimed:0", "QueueJoined:1", "QueueJoined:2",
		"SlotReleased:0", "SlotClaimed:1(from queue)", "SlotReleased:1", "SlotClaimed:2(from queue)"})
}

func TestTwoEnginesAtOnceNeverAdmitOneTooMany(t *testing.T) {
	t.Parallel()
	s := setup(t, pack.Policy{Ref: "p.two", Type: policy.Concurrency,
		Concurrency: &policy.ConcurrencySpec{Threshold: 2, Mode: policy.Enqueue}})
	ids, reqs := s.request("", "", "", "", "", "")
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(reqs))
	for range 2 { // two engines, each handling every request at once
		for _, r := range reqs {
			wg.Go(func() {
				for {
					err := s.sched.Handle(s.ctx, r)
					if !errors.Is(err, eventstore.ErrVersionConflict) {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := map[execution.Status]int{}
	for _, st := range s.statuses(ids...) {
		n[st]++
	}
	if n[scheduled] != 2 || n[delayed] != 4 {
		t.Fatalf("statuses %v, want 2 scheduled and 4 delayed", n)
	}
	_ = scheduling
}
