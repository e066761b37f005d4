package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/domain/event"
)

// Limit is a Concurrency or RateLimit policy as admission sees it: how many may hold a slot
// of one key (Threshold) or start within Window (Limit), and what becomes of one over it.
type Limit struct {
	Ref        string
	Type       Type // Concurrency or RateLimit
	Mode       Mode
	Attributes []string
	Threshold  int           // Concurrency: at most this many hold a slot
	Limit      int           // RateLimit: at most this many claims …
	Window     time.Duration // … within this window
}

// Key is the canonical encoding of the execution's values of the limit's attributes: a JSON
// array of the values in attribute order (null for one not given), each value re-encoded so
// that equal values give equal keys whatever their spacing or object key order. No
// attributes: "" (one queue for the action).
func (l Limit) Key(parameters json.RawMessage) (string, error) {
	if len(l.Attributes) == 0 {
		return "", nil
	}
	var params map[string]json.RawMessage
	if len(bytes.TrimSpace(parameters)) > 0 {
		if err := json.Unmarshal(parameters, &params); err != nil {
			return "", fmt.Errorf("policy %s: parameters are not a JSON object: %w", l.Ref, err)
		}
	}
	values := make([]any, len(l.Attributes))
	for i, a := range l.Attributes {
		raw, ok := params[a]
		if !ok {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&values[i]); err != nil {
			return "", fmt.Errorf("policy %s: parameter %s: %w", l.Ref, a, err)
		}
	}
	b, err := json.Marshal(values) // maps marshal with sorted keys
	if err != nil {
		return "", fmt.Errorf("policy %s: key: %w", l.Ref, err)
	}
	return string(b), nil
}

// Claim is one SlotClaimed folded: who, and when (a RateLimit window counts from At).
type Claim struct {
	ExecutionID string
	At          time.Time
}

// Queue is one policy key's stream folded: the executions holding a slot (claimed, not
// released), those waiting (joined, neither claimed nor released) in request order, and
// every claim with its time.
type Queue struct {
	version  int64
	holders  []string // in claim order
	waiting  []string // sorted: execution ids are ULIDs, so this is request order
	claims   []Claim
	released map[string]bool
}

// FoldQueue folds a queue stream (QueueStreamID).
func FoldQueue(events []event.Event) (*Queue, error) {
	q := &Queue{}
	for i, e := range events {
		if err := q.Apply(e); err != nil {
			return nil, fmt.Errorf("fold policy queue event %d (%s): %w", i+1, e.EventType(), err)
		}
	}
	return q, nil
}

// Apply folds one more event of the stream.
func (q *Queue) Apply(e event.Event) error {
	switch e := e.(type) {
	case *SlotClaimed:
		return q.Apply(*e)
	case *QueueJoined:
		return q.Apply(*e)
	case *SlotReleased:
		return q.Apply(*e)
	case SlotClaimed:
		if q.released[e.ExecutionID] || slices.Contains(q.holders, e.ExecutionID) {
			return fmt.Errorf("execution %s claims a slot it held or gave back", e.ExecutionID)
		}
		q.waiting = remove(q.waiting, e.ExecutionID)
		q.holders = append(q.holders, e.ExecutionID)
		q.claims = append(q.claims, Claim{ExecutionID: e.ExecutionID, At: e.At})
	case QueueJoined:
		if q.released[e.ExecutionID] || slices.Contains(q.holders, e.ExecutionID) || slices.Contains(q.waiting, e.ExecutionID) {
			return fmt.Errorf("execution %s joins a queue it is or was in", e.ExecutionID)
		}
		i, _ := slices.BinarySearch(q.waiting, e.ExecutionID)
		q.waiting = slices.Insert(q.waiting, i, e.ExecutionID)
	case SlotReleased:
		if q.released == nil {
			q.released = map[string]bool{}
		}
		q.released[e.ExecutionID] = true
		q.holders = remove(q.holders, e.ExecutionID)
		q.waiting = remove(q.waiting, e.ExecutionID)
	default:
		return fmt.Errorf("%s does not belong in a policy queue", e.EventType())
	}
	q.version++
	return nil
}

func remove(ids []string, id string) []string {
	return slices.DeleteFunc(ids, func(s string) bool { return s == id })
}

// Version is the number of events folded: the expected version of the next append.
func (q *Queue) Version() int64 { return q.version }

// Holders lists the executions holding a slot, in claim order.
func (q *Queue) Holders() []string { return slices.Clone(q.holders) }

// Waiting lists the queued executions in request order.
func (q *Queue) Waiting() []string { return slices.Clone(q.waiting) }

// Holds reports whether the execution holds a slot or waits in the queue: what a terminal
// status must give back.
func (q *Queue) Holds(id string) bool {
	return slices.Contains(q.holders, id) || slices.Contains(q.waiting, id)
}

// Released reports whether the execution gave its slot or place back.
func (q *Queue) Released(id string) bool { return q.released[id] }

// Verdict is what a limit decides for one execution.
type Verdict string

// The verdicts of Decide.
const (
	Admit  Verdict = "admit"  // it holds a slot: it may run
	Wait   Verdict = "wait"   // it waits in the queue (Enqueue mode)
	Refuse Verdict = "refuse" // it is turned away (Cancel mode)
	// Gone: it already gave its slot or place back (it ended); nothing more to decide.
	Gone Verdict = "gone"
)

// Decision is a limit's verdict on one execution, with the events that record it on the
// queue stream (none when the stream already says so: a redelivery).
type Decision struct {
	Verdict Verdict
	Events  []event.Event
	Reason  string
	// Until is, for Wait under a RateLimit, the earliest moment it may be admitted: when
	// enough claims ahead of it have aged out of the window.
	Until time.Time
	// Awaits lists, for Wait, the executions requested before this one that have not reached
	// the gate yet and take the room it would have had (request order): once they have been
	// decided, or have gone elsewhere, it may be admitted. Empty when the limit itself holds
	// it back.
	Awaits []string
}

// room is how many more may claim a slot now.
func (l Limit) room(q *Queue, now time.Time) int {
	if l.Type == RateLimit {
		return l.Limit - l.inWindow(q, now)
	}
	return l.Threshold - len(q.holders)
}

func (l Limit) inWindow(q *Queue, now time.Time) int {
	n := 0
	for _, c := range q.claims {
		if c.At.After(now.Add(-l.Window)) {
			n++
		}
	}
	return n
}

// coming keeps, of the executions the caller knows to be requested with this key (the
// read model's), those the queue has never seen (neither holding, waiting nor released) and
// that were requested before `before` (ids are ULIDs: request order), sorted.
func (q *Queue) coming(ids []string, before string) []string {
	var out []string
	for _, id := range ids {
		if id < before && !q.released[id] && !slices.Contains(q.holders, id) && !slices.Contains(q.waiting, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Decide settles one execution against the queue as folded at now. Admission is in request
// order (execution ids are ULIDs): the queue is sorted by id, and so are the executions
// still coming, requested before id but not yet decided by the gate (coming: the caller's
// list of this key's executions still requested, of which Decide keeps those the queue has
// not seen). An execution already holding a slot is admitted again with no event (a
// redelivery). Otherwise it is admitted (SlotClaimed, FromQueue when it waited) if it is
// among the first `room` of the queue and the coming ones together, so it overtakes
// neither one waiting nor one still on its way; if not, Enqueue mode queues it
// (QueueJoined). Cancel mode refuses it when the limit holds it back, but queues it when
// only coming ones stand in its way: whether it runs depends on whether they arrive.
func (l Limit) Decide(q *Queue, key, id string, now time.Time, coming ...string) Decision {
	switch {
	case slices.Contains(q.holders, id):
		return Decision{Verdict: Admit, Reason: "holds a slot of policy " + l.Ref}
	case q.released[id]:
		return Decision{Verdict: Gone, Reason: "gave its slot of policy " + l.Ref + " back"}
	}
	room := l.room(q, now)
	ahead := q.coming(coming, id)
	waiting := q.waiting
	queued := slices.Contains(waiting, id)
	if !queued {
		i, _ := slices.BinarySearch(waiting, id)
		waiting = slices.Insert(slices.Clone(waiting), i, id)
	}
	own := slices.Index(waiting, id) // its place among those the gate has seen
	pos := own + len(ahead)          // every coming one was requested before it
	if pos < room {
		claim := SlotClaimed{Policy: l.Ref, PolicyType: l.Type, Key: key, ExecutionID: id, At: now, FromQueue: queued}
		return Decision{Verdict: Admit, Events: []event.Event{claim}, Reason: "admitted by policy " + l.Ref}
	}
	d := Decision{Verdict: Wait, Reason: fmt.Sprintf("%s; %d ahead in its queue", l.over(q, key, now), own)}
	if own < room { // only the coming ones take its room
		d.Awaits = ahead
		d.Reason = fmt.Sprintf("policy %s: %d requested before it not admitted yet (request order)", l.Ref, len(ahead))
	} else if l.Mode == Cancel {
		return Decision{Verdict: Refuse, Reason: l.over(q, key, now)}
	}
	if !queued {
		d.Events = []event.Event{QueueJoined{Policy: l.Ref, PolicyType: l.Type, Key: key, ExecutionID: id}}
	}
	if l.Type == RateLimit && len(d.Awaits) == 0 {
		// (Awaiting coming ones, it may go as soon as they have: no Until, so that the
		// reaper looks again at its next pass.)
		d.Until = l.until(q, pos, now)
	}
	return d
}

// Heads are the SlotClaimed events that admit the waiting executions there is room for now,
// in request order: what a release hands on. A coming execution (see Decide) keeps its
// place: the room it takes is left for it.
func (l Limit) Heads(q *Queue, key string, now time.Time, coming ...string) []SlotClaimed {
	n := max(l.room(q, now), 0)
	if n == 0 || len(q.waiting) == 0 {
		return nil
	}
	ahead := q.coming(coming, q.waiting[len(q.waiting)-1])
	var out []SlotClaimed
	for i, id := range q.waiting {
		before, _ := slices.BinarySearch(ahead, id) // coming ones ahead of it
		if i+before >= n {
			break
		}
		out = append(out, SlotClaimed{Policy: l.Ref, PolicyType: l.Type, Key: key, ExecutionID: id, FromQueue: true, At: now})
	}
	return out
}

// until is the earliest moment the execution at position pos of the queue (0: its head) may
// start under a RateLimit, if every one ahead of it starts as early as it can: each start
// waits for the claim `limit` places back to leave the window.
func (l Limit) until(q *Queue, pos int, now time.Time) time.Time {
	starts := make([]time.Time, 0, len(q.claims)+pos+1)
	for _, c := range q.claims {
		starts = append(starts, c.At)
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	t := now
	for range pos + 1 {
		if n := len(starts); n >= l.Limit {
			if free := starts[n-l.Limit].Add(l.Window); free.After(t) {
				t = free
			}
		}
		starts = append(starts, t)
	}
	return t
}

// over says why the limit holds an execution back, naming the policy and its key.
func (l Limit) over(q *Queue, key string, now time.Time) string {
	var s string
	if l.Type == RateLimit {
		s = fmt.Sprintf("policy %s (rate_limit): %d started in the last %s, limit %d", l.Ref, l.inWindow(q, now), l.Window, l.Limit)
	} else {
		s = fmt.Sprintf("policy %s (concurrency): %d running, threshold %d", l.Ref, len(q.holders), l.Threshold)
	}
	if key != "" {
		s += " for " + strings.Join(l.Attributes, ", ") + " = " + key
	}
	return s
}

// Admission is what every limit on an action decided for one execution, applied in ref
// order: Admit when all admit; otherwise the verdict of the first that does not, naming it.
type Admission struct {
	Verdict Verdict
	Policy  string // the limit that holds it back or refuses it
	Type    Type
	Key     string
	Reason  string
	Until   time.Time // Wait under a RateLimit: the earliest moment to look again
	// Awaits, for Wait, lists the executions requested before it, not yet decided, that take
	// the room it would have had (Decision.Awaits): whoever looks again may move them on.
	Awaits []string
	// Next lists the waiting executions the decision left room for, whose slots the gate
	// claimed in the same append: the caller releases them (delayed → scheduling).
	Next []string
}
