package admission_test

import (
	"context"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/scheduler"
)

// A client that waits for each 201 before the next request appends them in order, but the
// bus hands them to several consumers at once: the scheduler may see them in any order.

func TestRequestsDeliveredInReverseAreAdmittedInRequestOrder(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, one(policy.Enqueue))
	ids, reqs := s.request("", "", "")
	// The third reaches the gate first, then the second: both find the slot free, and both
	// leave it to the first, still on its way.
	s.deliver(s.sched.Handle, reqs[2], reqs[1])
	want(t, "before the first arrives", s.statuses(ids...), []execution.Status{requested, delayed, delayed})
	s.deliver(s.sched.Handle, reqs[0])
	want(t, "once it has", s.statuses(ids...), []execution.Status{scheduled, delayed, delayed})
	want(t, "queue", s.queue("p.one", "", ids), []string{"QueueJoined:2", "QueueJoined:1", "SlotClaimed:0"})
	_, recs := s.execution(ids[2])
	d, _ := recs[1].Decode()
	if dl, ok := d.(*policy.ExecutionDelayed); !ok || dl.Reason != "policy p.one: 2 requested before it not admitted yet (request order)" {
		t.Errorf("the third delayed by %+v", d)
	}

	// Redelivered, in any order: nothing changes.
	s.deliver(s.sched.Handle, reqs[1], reqs[0], reqs[2])
	want(t, "after redeliveries", s.statuses(ids...), []execution.Status{scheduled, delayed, delayed})

	// Then one after the other, in request order.
	s.deliver(s.handler.Handle, s.finish(ids[0], completed))
	want(t, "the first ended", s.statuses(ids...), []execution.Status{completed, scheduled, delayed})
	s.deliver(s.handler.Handle, s.finish(ids[1], completed))
	want(t, "the second ended", s.statuses(ids...), []execution.Status{completed, completed, scheduled})
	want(t, "queue", s.queue("p.one", "", ids), []string{"QueueJoined:2", "QueueJoined:1", "SlotClaimed:0",
		"SlotReleased:0", "SlotClaimed:1(from queue)", "SlotReleased:1", "SlotClaimed:2(from queue)"})
}

func TestADecisionHandsOnTheRoomItLeaves(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, pack.Policy{Ref: "p.two", Type: policy.Concurrency,
		Concurrency: &policy.ConcurrencySpec{Threshold: 2, Mode: policy.Enqueue}})
	ids, reqs := s.request("", "", "")
	// The third arrives first: the first two, still on their way, take the two slots.
	s.deliver(s.sched.Handle, reqs[2])
	want(t, "the third first", s.statuses(ids...), []execution.Status{requested, requested, delayed})
	// The first is cancelled on its way (its end not yet handled). The second arrives: it
	// takes a slot and hands the other to the third, in the same append.
	x, _ := s.execution(ids[0])
	ch, _ := x.Transition(cancelled, execution.Outcome{Reason: "cancelled by test"})
	s.append(execution.StreamID(ids[0]), ch)
	s.deliver(s.sched.Handle, reqs[1])
	want(t, "the second", s.statuses(ids...), []execution.Status{cancelled, scheduled, scheduled})
	want(t, "queue", s.queue("p.two", "", ids), []string{"QueueJoined:2", "SlotClaimed:1", "SlotClaimed:2(from queue)"})
}

func TestKeysKeepTheirOwnRequestOrder(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, one(policy.Enqueue, "host"))
	ids, reqs := s.request("a", "b", "a", "b")
	// Host b's second request does not wait for host a's first, only for host b's.
	s.deliver(s.sched.Handle, reqs[3], reqs[2])
	want(t, "the later two first", s.statuses(ids...), []execution.Status{requested, requested, delayed, delayed})
	s.deliver(s.sched.Handle, reqs[1], reqs[0])
	want(t, "then the earlier two", s.statuses(ids...), []execution.Status{scheduled, scheduled, delayed, delayed})
	s.deliver(s.handler.Handle, s.finish(ids[1], completed))
	want(t, "b's first ended", s.statuses(ids...), []execution.Status{scheduled, completed, delayed, scheduled})
}

func TestAnEarlierRequestThatNeverArrivesHoldsNobodyBeyondTheReapersPass(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, one(policy.Enqueue))
	ids, reqs := s.request("", "")
	s.deliver(s.sched.Handle, reqs[1])
	want(t, "the second waits for the first", s.statuses(ids...), []execution.Status{requested, delayed})

	// The first's ExecutionRequested is lost (poisoned). The reaper's pass over the second
	// moves the first on as its message would have: it takes the slot, in request order.
	s.project()
	if res, err := s.sched.Retry(s.ctx, ids[1], t0, time.Minute); err != nil || res != scheduler.Unchanged {
		t.Fatalf("the reaper's Retry of the second = %s, %v", res, err)
	}
	want(t, "after the reaper's pass", s.statuses(ids...), []execution.Status{scheduled, delayed})
	s.deliver(s.handler.Handle, s.finish(ids[0], completed))
	want(t, "the first ended", s.statuses(ids...), []execution.Status{completed, scheduled})
}

func TestAnEarlierRequestCancelledOnItsWayLeavesTheSlotAtOnce(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, one(policy.Enqueue))
	ids, reqs := s.request("", "")
	s.deliver(s.sched.Handle, reqs[1])
	want(t, "the second waits for the first", s.statuses(ids...), []execution.Status{requested, delayed})
	// The first is cancelled before the scheduler sees it: its end hands the slot on.
	x, _ := s.execution(ids[0])
	ch, _ := x.Transition(cancelled, execution.Outcome{Reason: "cancelled by test"})
	s.deliver(s.handler.Handle, s.append(execution.StreamID(ids[0]), ch)...)
	want(t, "the first cancelled", s.statuses(ids...), []execution.Status{cancelled, scheduled})
	// Its late request changes nothing.
	s.deliver(s.sched.Handle, reqs[0])
	want(t, "its late request", s.statuses(ids...), []execution.Status{cancelled, scheduled})
	want(t, "queue", s.queue("p.one", "", ids), []string{"QueueJoined:1", "SlotClaimed:1(from queue)"})
}

func TestTheGateWaitsForTheReadModelToReachTheRequest(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, one(policy.Enqueue))
	ids, reqs := s.request("", "")
	// The read model has not applied either request when the second reaches the gate; it
	// does a moment later. Had the gate gone by what it held then, the second would run
	// first.
	projected := make(chan struct{})
	go func() {
		defer close(projected)
		time.Sleep(100 * time.Millisecond)
		if err := s.projectUntil(context.Background(), reqs[1].Position); err != nil {
			t.Error(err)
		}
	}()
	if err := s.sched.Handle(s.ctx, reqs[1]); err != nil {
		t.Fatal(err)
	}
	<-projected
	want(t, "the second", s.statuses(ids...), []execution.Status{requested, delayed})
	s.deliver(s.sched.Handle, reqs[0])
	want(t, "the first", s.statuses(ids...), []execution.Status{scheduled, delayed})
}

func TestCancelModeRefusesInRequestOrder(t *testing.T) {
	t.Parallel()
	s := setupOrdered(t, one(policy.Cancel))
	ids, reqs := s.request("", "")
	// The second finds the slot free, but the first was requested before it: it waits to
	// see, then is refused once the first holds the slot.
	s.deliver(s.sched.Handle, reqs[1])
	want(t, "the second first", s.statuses(ids...), []execution.Status{requested, delayed})
	s.deliver(s.sched.Handle, reqs[0])
	want(t, "the first", s.statuses(ids...), []execution.Status{scheduled, delayed})
	s.project()
	if res, err := s.sched.Retry(s.ctx, ids[1], t0, time.Minute); err != nil || res != scheduler.Refused {
		t.Fatalf("the reaper's Retry of the second = %s, %v", res, err)
	}
	want(t, "the second refused", s.statuses(ids...), []execution.Status{scheduled, cancelled})
	_, recs := s.execution(ids[1])
	s.deliver(s.handler.Handle, recs[len(recs)-1])
	want(t, "queue", s.queue("p.one", "", ids), []string{"QueueJoined:1", "SlotClaimed:0", "SlotReleased:1"})
}
