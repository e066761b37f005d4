package policy_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/policy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ids in request order (ULIDs sort as they were made).
const (
	a = "01JQ3V5E8G7ZKX2N4P6R8T0W2A"
	b = "01JQ3V5E8G7ZKX2N4P6R8T0W2B"
	c = "01JQ3V5E8G7ZKX2N4P6R8T0W2C"
	d = "01JQ3V5E8G7ZKX2N4P6R8T0W2D"
)

func one(mode policy.Mode) policy.Limit {
	return policy.Limit{Ref: "p.one", Type: policy.Concurrency, Mode: mode, Threshold: 1}
}

// run decides for id and folds what the decision recorded, as the handler does.
func run(t *testing.T, l policy.Limit, q *policy.Queue, id string, now time.Time) policy.Decision {
	t.Helper()
	dec := l.Decide(q, "", id, now)
	for _, e := range dec.Events {
		if err := q.Apply(e); err != nil {
			t.Fatalf("apply %s: %v", e.EventType(), err)
		}
	}
	return dec
}

func release(t *testing.T, q *policy.Queue, id string) {
	t.Helper()
	if err := q.Apply(policy.SlotReleased{Policy: "p.one", ExecutionID: id, Status: execution.Completed}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrencyEnqueueAdmitsUpToTheThresholdThenQueuesInRequestOrder(t *testing.T) {
	t.Parallel()
	l := one(policy.Enqueue)
	q, _ := policy.FoldQueue(nil)
	if dec := run(t, l, q, a, t0); dec.Verdict != policy.Admit || len(dec.Events) != 1 {
		t.Fatalf("first: %+v", dec)
	}
	// c is decided before b (delivery order), but b was requested first: b is ahead of it.
	if dec := run(t, l, q, c, t0); dec.Verdict != policy.Wait || !strings.Contains(dec.Reason, "policy p.one") {
		t.Fatalf("c: %+v", dec)
	}
	if dec := run(t, l, q, b, t0); dec.Verdict != policy.Wait {
		t.Fatalf("b: %+v", dec)
	}
	if got := q.Waiting(); !slices.Equal(got, []string{b, c}) {
		t.Fatalf("waiting %v, want request order [b c]", got)
	}
	// A redelivery records nothing more.
	if dec := l.Decide(q, "", a, t0); dec.Verdict != policy.Admit || len(dec.Events) != 0 {
		t.Errorf("redelivered holder: %+v", dec)
	}
	if dec := l.Decide(q, "", c, t0); dec.Verdict != policy.Wait || len(dec.Events) != 0 {
		t.Errorf("redelivered waiter: %+v", dec)
	}
	release(t, q, a)
	// The head only: c may not overtake b, and a newcomer d may not overtake either.
	if dec := l.Decide(q, "", c, t0); dec.Verdict != policy.Wait {
		t.Errorf("c with b ahead: %+v", dec)
	}
	if dec := run(t, l, q, d, t0); dec.Verdict != policy.Wait {
		t.Errorf("newcomer d with a free slot but a queue: %+v", dec)
	}
	heads := l.Heads(q, "", t0)
	if len(heads) != 1 || heads[0].ExecutionID != b || !heads[0].FromQueue {
		t.Fatalf("heads %+v, want b from the queue", heads)
	}
	if dec := run(t, l, q, b, t0); dec.Verdict != policy.Admit || len(dec.Events) != 1 || !dec.Events[0].(policy.SlotClaimed).FromQueue {
		t.Fatalf("b at the head: %+v", dec)
	}
	if got := l.Heads(q, "", t0); len(got) != 0 {
		t.Errorf("heads with the slot taken: %+v", got)
	}
	if dec := l.Decide(q, "", a, t0); dec.Verdict != policy.Gone {
		t.Errorf("released a: %+v", dec)
	}
	// A cancel while queued gives the place back.
	release(t, q, c)
	if got := q.Waiting(); !slices.Equal(got, []string{d}) {
		t.Errorf("waiting %v after c left, want [d]", got)
	}
}

func TestConcurrencyCancelRefusesTheNewcomerNamingThePolicy(t *testing.T) {
	t.Parallel()
	l := policy.Limit{Ref: "p.two", Type: policy.Concurrency, Mode: policy.Cancel, Threshold: 2}
	q, _ := policy.FoldQueue(nil)
	run(t, l, q, a, t0)
	run(t, l, q, b, t0)
	dec := run(t, l, q, c, t0)
	if dec.Verdict != policy.Refuse || len(dec.Events) != 0 || !strings.Contains(dec.Reason, "policy p.two (concurrency): 2 running, threshold 2") {
		t.Fatalf("third: %+v", dec)
	}
}

func TestRateLimitCountsClaimsInTheWindowAndSaysWhenTheQueueMovesOn(t *testing.T) {
	t.Parallel()
	l := policy.Limit{Ref: "p.rate", Type: policy.RateLimit, Mode: policy.Enqueue, Limit: 2, Window: 5 * time.Second}
	q, _ := policy.FoldQueue(nil)
	run(t, l, q, a, t0)
	run(t, l, q, b, t0.Add(time.Second))
	dec := run(t, l, q, c, t0.Add(2*time.Second))
	if dec.Verdict != policy.Wait || !dec.Until.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("c: %+v, want wait until a leaves the window at +5s", dec)
	}
	dec = run(t, l, q, d, t0.Add(2*time.Second))
	if dec.Verdict != policy.Wait || !dec.Until.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("d: %+v, want wait until b leaves the window at +6s", dec)
	}
	// Ending does not free a rate: a and b still count until they leave the window.
	release(t, q, a)
	release(t, q, b)
	if dec := l.Decide(q, "", c, t0.Add(4*time.Second)); dec.Verdict != policy.Wait {
		t.Errorf("c at +4s: %+v", dec)
	}
	if dec := run(t, l, q, c, t0.Add(5*time.Second)); dec.Verdict != policy.Admit {
		t.Errorf("c at +5s: %+v", dec)
	}
	if dec := l.Decide(q, "", d, t0.Add(5*time.Second)); dec.Verdict != policy.Wait {
		t.Errorf("d at +5s (b still in the window): %+v", dec)
	}
	if dec := run(t, l, q, d, t0.Add(6*time.Second)); dec.Verdict != policy.Admit {
		t.Errorf("d at +6s: %+v", dec)
	}
	// Cancel mode refuses once the window is full.
	lc := l
	lc.Mode = policy.Cancel
	if dec := lc.Decide(q, "", "01JQ3V5E8G7ZKX2N4P6R8T0W2E", t0.Add(7*time.Second)); dec.Verdict != policy.Refuse ||
		!strings.Contains(dec.Reason, "policy p.rate (rate_limit): 2 started in the last 5s, limit 2") {
		t.Errorf("over the rate in cancel mode: %+v", dec)
	}
}

func TestKeyIsACanonicalArrayOfTheAttributeValues(t *testing.T) {
	t.Parallel()
	l := policy.Limit{Ref: "p.k", Attributes: []string{"host", "opts", "missing"}}
	k1, err := l.Key(json.RawMessage(`{"host":"web-1","opts":{"b":1,"a":[1, 2]},"other":3}`))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := l.Key(json.RawMessage(`{ "opts": {"a":[1,2], "b":1}, "host":"web-1"}`))
	if k1 != k2 || k1 != `["web-1",{"a":[1,2],"b":1},null]` {
		t.Errorf("keys %s and %s, want both [\"web-1\",{\"a\":[1,2],\"b\":1},null]", k1, k2)
	}
	if k, _ := l.Key(json.RawMessage(`{"host":"web-2"}`)); k == k1 {
		t.Error("two hosts share a key")
	}
	if k, _ := (policy.Limit{Ref: "p.k"}).Key(json.RawMessage(`{"host":"x"}`)); k != "" {
		t.Errorf("no attributes: key %q, want \"\"", k)
	}
	if _, err := l.Key(json.RawMessage(`[1]`)); err == nil {
		t.Error("parameters that are not an object gave a key")
	}
}

func TestFoldQueueRefusesWhatCannotHappen(t *testing.T) {
	t.Parallel()
	claim := policy.SlotClaimed{Policy: "p.one", ExecutionID: a}
	for name, events := range map[string][]event.Event{
		"claimed twice":             {claim, claim},
		"claimed after its release": {claim, policy.SlotReleased{ExecutionID: a}, claim},
		"joined twice":              {policy.QueueJoined{ExecutionID: a}, policy.QueueJoined{ExecutionID: a}},
		"foreign event":             {execution.ExecutionRequested{ExecutionID: a, Action: "p.x"}},
	} {
		if _, err := policy.FoldQueue(events); err == nil {
			t.Errorf("%s: folded", name)
		}
	}
}

// decideWith decides for id knowing the executions still coming, and folds what it recorded.
func decideWith(t *testing.T, l policy.Limit, q *policy.Queue, id string, now time.Time, coming ...string) policy.Decision {
	t.Helper()
	dec := l.Decide(q, "", id, now, coming...)
	for _, e := range dec.Events {
		if err := q.Apply(e); err != nil {
			t.Fatalf("apply %s: %v", e.EventType(), err)
		}
	}
	return dec
}

func TestAFreeSlotWaitsForTheExecutionsRequestedEarlierStillOnTheirWay(t *testing.T) {
	t.Parallel()
	l := one(policy.Enqueue)
	q, _ := policy.FoldQueue(nil)
	// b reaches the gate first; a, requested before it, is still on its way: b queues.
	dec := decideWith(t, l, q, b, t0, a)
	if dec.Verdict != policy.Wait || !slices.Equal(dec.Awaits, []string{a}) || len(dec.Events) != 1 ||
		!strings.Contains(dec.Reason, "1 requested before it") {
		t.Fatalf("b before a: %+v", dec)
	}
	// c, on its way too but requested after b, does not hold b back; nor does b itself.
	if dec := l.Decide(q, "", b, t0, b, c); dec.Verdict != policy.Admit {
		t.Errorf("b with only later ones coming: %+v", dec)
	}
	if got := l.Heads(q, "", t0, a); len(got) != 0 {
		t.Errorf("heads while a is on its way: %+v", got)
	}
	// a arrives: it sorts ahead of b and takes the slot; b waits for it to end.
	if dec := decideWith(t, l, q, a, t0); dec.Verdict != policy.Admit || dec.Events[0].(policy.SlotClaimed).FromQueue {
		t.Fatalf("a: %+v", dec)
	}
	if dec := l.Decide(q, "", b, t0, a); dec.Verdict != policy.Wait || len(dec.Awaits) != 0 {
		t.Errorf("b behind a's slot: %+v (a is on the stream now, so no longer coming)", dec)
	}
	release(t, q, a)
	if heads := l.Heads(q, "", t0, a); len(heads) != 1 || heads[0].ExecutionID != b {
		t.Errorf("heads after a ended: %+v, want b (a, released, is not coming)", heads)
	}
}

func TestAnExecutionThatNeverCameLeavesTheSlotToTheOneBehindIt(t *testing.T) {
	t.Parallel()
	l := one(policy.Enqueue)
	q, _ := policy.FoldQueue(nil)
	decideWith(t, l, q, c, t0, a, b)
	if got := q.Waiting(); !slices.Equal(got, []string{c}) {
		t.Fatalf("waiting %v", got)
	}
	// b arrives, a is still on its way: b queues ahead of c, awaiting a.
	if dec := decideWith(t, l, q, b, t0, a); dec.Verdict != policy.Wait || !slices.Equal(dec.Awaits, []string{a}) {
		t.Fatalf("b: %+v", dec)
	}
	// a went elsewhere (cancelled, a workflow's delay): nothing coming, b is the head.
	heads := l.Heads(q, "", t0)
	if len(heads) != 1 || heads[0].ExecutionID != b {
		t.Fatalf("heads %+v, want b", heads)
	}
	if dec := decideWith(t, l, q, c, t0); dec.Verdict != policy.Wait || len(dec.Awaits) != 0 {
		t.Errorf("c behind b: %+v", dec)
	}
}

func TestHeadsLeaveRoomForTheOnesComing(t *testing.T) {
	t.Parallel()
	l := policy.Limit{Ref: "p.two", Type: policy.Concurrency, Mode: policy.Enqueue, Threshold: 2}
	q, _ := policy.FoldQueue(nil)
	for _, id := range []string{b, d} { // queued while the slots were held, since given back
		if err := q.Apply(policy.QueueJoined{Policy: "p.two", ExecutionID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// Room for two: a (coming) takes one, b the other; d waits behind c (coming).
	heads := l.Heads(q, "", t0, a, c)
	if len(heads) != 1 || heads[0].ExecutionID != b || !heads[0].FromQueue {
		t.Fatalf("heads %+v, want b", heads)
	}
	if got := l.Heads(q, "", t0); len(got) != 2 {
		t.Errorf("nothing coming: heads %+v, want b and d", got)
	}
}

func TestCancelModeRefusesOnlyWhatTheLimitHoldsBack(t *testing.T) {
	t.Parallel()
	l := one(policy.Cancel)
	q, _ := policy.FoldQueue(nil)
	// b finds the slot free but a on its way: it waits to see whether a comes.
	if dec := decideWith(t, l, q, b, t0, a); dec.Verdict != policy.Wait || len(dec.Events) != 1 {
		t.Fatalf("b: %+v", dec)
	}
	// c is behind b: over the limit whatever a does.
	if dec := l.Decide(q, "", c, t0, a); dec.Verdict != policy.Refuse {
		t.Errorf("c: %+v", dec)
	}
	decideWith(t, l, q, a, t0)
	if dec := l.Decide(q, "", b, t0); dec.Verdict != policy.Refuse || len(dec.Events) != 0 {
		t.Errorf("b once a holds the slot: %+v", dec)
	}
}

func TestRateLimitWaitingForOnesComingHasNoUntil(t *testing.T) {
	t.Parallel()
	l := policy.Limit{Ref: "p.rate", Type: policy.RateLimit, Mode: policy.Enqueue, Limit: 1, Window: 5 * time.Second}
	q, _ := policy.FoldQueue(nil)
	dec := decideWith(t, l, q, b, t0, a)
	if dec.Verdict != policy.Wait || !dec.Until.IsZero() || !slices.Equal(dec.Awaits, []string{a}) {
		t.Fatalf("b: %+v", dec)
	}
	decideWith(t, l, q, a, t0)
	if dec := l.Decide(q, "", b, t0.Add(time.Second)); dec.Verdict != policy.Wait || !dec.Until.Equal(t0.Add(5*time.Second)) {
		t.Errorf("b behind a's start: %+v, want until +5s", dec)
	}
}
