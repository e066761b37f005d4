package policies_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/policies"
)

// log builds recorded events one second apart, in order.
type log struct {
	t0       time.Time
	recorded []eventstore.Recorded
	versions map[string]int64
}

func newLog() *log {
	return &log{t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), versions: map[string]int64{}}
}

func (l *log) add(t *testing.T, stream string, es ...event.Event) {
	t.Helper()
	for _, e := range es {
		p, err := eventstore.NewProposed(e, event.Metadata{Actor: "engine"})
		if err != nil {
			t.Fatal(err)
		}
		l.versions[stream]++
		n := len(l.recorded) + 1
		l.recorded = append(l.recorded, eventstore.Recorded{
			ID: p.ID, StreamID: stream, StreamVersion: l.versions[stream], Type: p.Type, SchemaVersion: p.SchemaVersion,
			Data: p.Data, RecordedAt: l.t0.Add(time.Duration(n) * time.Second), Position: eventstore.Position{Minor: uint64(n)},
		})
	}
}

const (
	serial = "examples.one_at_a_time"
	rate   = "examples.two_a_minute"
	again  = "examples.again"
)

func registration(withRate bool) *pack.PackRegistered {
	p := &pack.PackRegistered{Ref: "examples", Version: "1.0.0",
		Actions: []pack.Action{{Ref: "examples.deploy", Name: "deploy", RunnerType: pack.RunnerShell, EntryPoint: "d.sh"}},
		Policies: []pack.Policy{
			{Ref: serial, Name: "one_at_a_time", Enabled: true, Action: "examples.deploy", Type: policy.Concurrency, File: "policies/one_at_a_time.yaml",
				Concurrency: &policy.ConcurrencySpec{Threshold: 1, Mode: policy.Enqueue, Attributes: []string{"env"}}},
			{Ref: again, Name: "again", Enabled: true, Action: "examples.deploy", Type: policy.Retry,
				Retry: &policy.RetrySpec{On: []execution.Status{execution.Failed}, MaxRetries: 2}},
		},
	}
	if withRate {
		p.Policies = append(p.Policies, pack.Policy{Ref: rate, Name: "two_a_minute", Enabled: false, Action: "examples.deploy",
			Type: policy.RateLimit, RateLimit: &policy.RateLimitSpec{Limit: 2, WindowSeconds: 60, Mode: policy.Enqueue}})
	} else {
		p.Retired = []pack.Component{{Kind: pack.KindPolicy, Ref: rate}}
	}
	return p
}

func queue(key string) string { return policy.QueueStreamID(serial, key) }

// script renders the read model: each policy, then each member, one line each.
func script(tx *memtx.Tx) string {
	var lines []string
	for _, ref := range slices.Sorted(maps.Keys(tx.Policies)) {
		p := tx.Policies[ref]
		retired := ""
		if !p.RetiredAt.IsZero() {
			retired = " retired"
		}
		lines = append(lines, fmt.Sprintf("policy %s pack=%s action=%s type=%s enabled=%v file=%s spec=%s refused=%d retries=%d%s",
			p.Ref, p.Pack, p.Action, p.Type, p.Enabled, p.File, p.Spec, p.Refused, p.RetriesScheduled, retired))
	}
	keys := slices.SortedFunc(maps.Keys(tx.PolicyMembers), func(a, b policies.MemberKey) int {
		return strings.Compare(a.Policy+a.ExecutionID+string(a.Hold), b.Policy+b.ExecutionID+string(b.Hold))
	})
	for _, k := range keys {
		m := tx.PolicyMembers[k]
		lines = append(lines, fmt.Sprintf("member %s %s %s key=%s %s", k.Policy, k.ExecutionID, k.Hold, m.Key, m.State))
	}
	return strings.Join(lines, "\n")
}

func apply(t *testing.T, tx *memtx.Tx, batches ...[]eventstore.Recorded) {
	t.Helper()
	for _, b := range batches {
		if err := policies.Apply(context.Background(), tx, b); err != nil {
			t.Fatal(err)
		}
	}
}

// theLog is a day of policies at work: a serialised deploy per env, a rate limit, refusals
// and retries, and a reload that drops the rate limit.
func theLog(t *testing.T) *log {
	l := newLog()
	l.add(t, pack.StreamID("examples"), registration(true))
	prod, stage := `["prod"]`, `["stage"]`
	claim := func(key, id string, fromQueue bool) *policy.SlotClaimed {
		return &policy.SlotClaimed{Policy: serial, PolicyType: policy.Concurrency, Key: key, ExecutionID: id, FromQueue: fromQueue}
	}
	join := func(key, id string) *policy.QueueJoined {
		return &policy.QueueJoined{Policy: serial, PolicyType: policy.Concurrency, Key: key, ExecutionID: id}
	}
	release := func(key, id string, st execution.Status) *policy.SlotReleased {
		return &policy.SlotReleased{Policy: serial, PolicyType: policy.Concurrency, Key: key, ExecutionID: id, Status: st}
	}
	l.add(t, queue(prod), claim(prod, "A", false), join(prod, "B"), join(prod, "C"))
	l.add(t, queue(stage), claim(stage, "D", false))
	l.add(t, queue(prod), release(prod, "A", execution.Completed), claim(prod, "B", true))
	l.add(t, queue(prod), release(prod, "C", execution.Cancelled)) // cancelled while queued
	// A rate limit's wait is in its queue stream, like a concurrency wait, and shows delayed:
	// E waits; F waited and was admitted. The ExecutionDelayed beside it counts nothing more.
	l.add(t, policy.QueueStreamID(rate, ""),
		&policy.QueueJoined{Policy: rate, PolicyType: policy.RateLimit, ExecutionID: "E"},
		&policy.QueueJoined{Policy: rate, PolicyType: policy.RateLimit, ExecutionID: "F"},
		&policy.SlotClaimed{Policy: rate, PolicyType: policy.RateLimit, ExecutionID: "F", FromQueue: true})
	l.add(t, execution.StreamID("E"),
		&execution.ExecutionRequested{ExecutionID: "E", Action: "examples.deploy"},
		&policy.ExecutionDelayed{ExecutionID: "E", Policy: rate, PolicyType: policy.RateLimit, Reason: "2 this minute", Until: l.t0.Add(time.Minute)},
		&execution.ExecutionStatusChanged{ExecutionID: "E", From: execution.Requested, To: execution.Delayed})
	l.add(t, execution.StreamID("F"),
		&execution.ExecutionRequested{ExecutionID: "F", Action: "examples.deploy"},
		&policy.ExecutionDelayed{ExecutionID: "F", Policy: rate, PolicyType: policy.RateLimit, Reason: "2 this minute"},
		&execution.ExecutionStatusChanged{ExecutionID: "F", From: execution.Requested, To: execution.Delayed},
		&policy.ExecutionReleased{ExecutionID: "F", Policy: rate, PolicyType: policy.RateLimit, Reason: "window passed"},
		&execution.ExecutionStatusChanged{ExecutionID: "F", From: execution.Delayed, To: execution.Scheduling})
	l.add(t, execution.StreamID("G"),
		&execution.ExecutionRequested{ExecutionID: "G", Action: "examples.deploy"},
		&policy.ExecutionDelayed{ExecutionID: "G", Policy: rate, PolicyType: policy.RateLimit, Reason: "2 this minute"},
		&execution.ExecutionStatusChanged{ExecutionID: "G", From: execution.Requested, To: execution.Delayed},
		&execution.ExecutionStatusChanged{ExecutionID: "G", From: execution.Delayed, To: execution.Cancelled})
	l.add(t, execution.StreamID("H"),
		&execution.ExecutionRequested{ExecutionID: "H", Action: "examples.deploy"},
		&policy.ExecutionRefused{ExecutionID: "H", Policy: serial, PolicyType: policy.Concurrency, Reason: "1 running"},
		&execution.ExecutionStatusChanged{ExecutionID: "H", From: execution.Requested, To: execution.Cancelled})
	l.add(t, execution.StreamID("I"),
		&policy.ExecutionRetryScheduled{ExecutionID: "I", RetryExecutionID: "J", Policy: again, Attempt: 1, Reason: "failed"},
		&policy.ExecutionRetryScheduled{ExecutionID: "I", RetryExecutionID: "J", Policy: "other.gone", Attempt: 1, Reason: "no such row"})
	return l
}

const wantAfterTheLog = `
policy examples.again pack=examples action=examples.deploy type=retry enabled=true file= spec={"on":["failed"],"max_retries":2} refused=0 retries=1
policy examples.one_at_a_time pack=examples action=examples.deploy type=concurrency enabled=true file=policies/one_at_a_time.yaml spec={"threshold":1,"mode":"enqueue","attributes":["env"]} refused=1 retries=0
policy examples.two_a_minute pack=examples action=examples.deploy type=rate_limit enabled=false file= spec={"limit":2,"window":60,"mode":"enqueue"} refused=0 retries=0
member examples.one_at_a_time B slot key=["prod"] running
member examples.one_at_a_time D slot key=["stage"] running
member examples.two_a_minute E slot key= delayed
member examples.two_a_minute F slot key= running`

func TestProjectsPoliciesAndWhatTheyHold(t *testing.T) {
	t.Parallel()
	l := theLog(t)
	tx := memtx.New()
	apply(t, tx, l.recorded)
	if got, want := script(tx), strings.TrimSpace(wantAfterTheLog); got != want {
		t.Fatalf("read model:\n%s\nwant:\n%s", got, want)
	}
	if tx.Loads != 2 || tx.Saves != 2 {
		t.Errorf("one batch cost %d loads and %d saves, want 2 of each", tx.Loads, tx.Saves)
	}
}

func TestOneEventPerBatchEndsTheSame(t *testing.T) {
	t.Parallel()
	l := theLog(t)
	tx := memtx.New()
	for _, r := range l.recorded {
		apply(t, tx, []eventstore.Recorded{r})
	}
	if got, want := script(tx), strings.TrimSpace(wantAfterTheLog); got != want {
		t.Fatalf("read model:\n%s\nwant:\n%s", got, want)
	}
}

func TestAReloadRetiresADroppedPolicyAndARegistrationRevivesIt(t *testing.T) {
	t.Parallel()
	l := theLog(t)
	l.add(t, pack.StreamID("examples"), registration(false))
	tx := memtx.New()
	apply(t, tx, l.recorded)
	if got := tx.Policies[rate]; got.RetiredAt.IsZero() {
		t.Fatalf("%s still live after a reload dropped it: %+v", rate, got)
	}
	if got := tx.Policies[serial]; !got.RetiredAt.IsZero() {
		t.Fatalf("%s retired by a reload that kept it", serial)
	}
	l.add(t, pack.StreamID("examples"), registration(true))
	apply(t, tx, l.recorded[len(l.recorded)-1:])
	if got := tx.Policies[rate]; !got.RetiredAt.IsZero() {
		t.Fatalf("%s registered again but still retired", rate)
	}
	l.add(t, pack.StreamID("examples"), &pack.PackRetired{Ref: "examples", Retired: []pack.Component{
		{Kind: pack.KindAction, Ref: "examples.deploy"}, {Kind: pack.KindPolicy, Ref: serial}, {Kind: pack.KindPolicy, Ref: again}, {Kind: pack.KindPolicy, Ref: rate}}})
	apply(t, tx, l.recorded[len(l.recorded)-1:])
	for ref, p := range tx.Policies {
		if p.RetiredAt.IsZero() {
			t.Errorf("%s live after its pack was retired", ref)
		}
	}
}

func TestEventsOfNoInterestCostNothing(t *testing.T) {
	t.Parallel()
	l := newLog()
	l.add(t, execution.StreamID("A"),
		&execution.ExecutionRequested{ExecutionID: "A", Action: "core.echo"},
		&execution.ExecutionStatusChanged{ExecutionID: "A", From: execution.Requested, To: execution.Scheduling},
		&policy.ExecutionDelayed{ExecutionID: "A", Reason: "not before 12:05"}) // a not_before hold
	tx := memtx.New()
	apply(t, tx, l.recorded)
	if tx.Loads != 0 || tx.Saves != 0 || len(tx.PolicyMembers) != 0 {
		t.Fatalf("loads %d, saves %d, members %v: want nothing", tx.Loads, tx.Saves, tx.PolicyMembers)
	}
}
