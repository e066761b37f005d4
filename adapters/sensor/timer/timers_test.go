package timer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/sensor/timer"
	"github.com/attune-go/attune/domain/trigger"
)

var noon = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestIntervalTicksAlignToTheEpochAndCarryTheirTick(t *testing.T) {
	t.Parallel()
	b := setup(t, noon.Add(700*time.Millisecond))
	b.start(t, interval("examples.every_two", 2, "seconds"))
	waitFor(t, "the timer to wait", 5*time.Second, func() bool { return b.clock.pending() == 1 })

	for i, at := range []time.Duration{2, 4, 6} {
		b.step(t, noon.Add(at*time.Second+30*time.Millisecond), 1, "examples.every_two", i+1)
	}
	if got := joined(ticks(t, b.store, "examples.every_two")); got != "12:00:02 12:00:04 12:00:06" {
		t.Fatalf("ticks %s, want 12:00:02 12:00:04 12:00:06", got)
	}

	e := firedEvents(t, b.store)[0]
	tick := noon.Add(2 * time.Second)
	if want := trigger.TimerEventID("examples.every_two", tick).String(); e.EventID != want {
		t.Errorf("event id %s, want the tick's deterministic id %s", e.EventID, want)
	}
	if e.rec.StreamID != "event-"+e.EventID || e.Trigger != timer.IntervalTrigger || e.Source != trigger.Timer || e.Rule != "examples.every_two" {
		t.Errorf("event %+v in stream %s", e.EventFired, e.rec.StreamID)
	}
	if e.rec.Metadata.CorrelationID != e.EventID || e.rec.Metadata.Actor != "timer" {
		t.Errorf("metadata %+v: want correlation = the event id, actor timer", e.rec.Metadata)
	}
	var payload map[string]any
	if err := json.Unmarshal(e.Payload, &payload); err != nil {
		t.Fatalf("payload: %v", err)
	}
	schedule, _ := json.Marshal(payload["schedule"])
	if payload["executed_at"] != "2026-03-01T12:00:02Z" || string(schedule) != `{"delta":2,"unit":"seconds"}` {
		t.Errorf("payload %s", e.Payload)
	}
}

func TestTwoEnginesFireEachTickExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, noon.Add(100*time.Millisecond))
	rule := interval("examples.every_second", 1, "seconds")
	b.start(t, rule)
	b.start(t, rule)
	waitFor(t, "both timers to wait", 5*time.Second, func() bool { return b.clock.pending() == 2 })

	for i := 1; i <= 5; i++ {
		b.step(t, noon.Add(time.Duration(i)*time.Second), 2, "examples.every_second", i)
	}
	if got := joined(ticks(t, b.store, "examples.every_second")); got != "12:00:01 12:00:02 12:00:03 12:00:04 12:00:05" {
		t.Fatalf("ticks %s: want each of 5 ticks once", got)
	}
	// Both engines tried every tick: the one that lost took the conflict as "already fired".
	if n := b.logs.count("already fired", "examples.every_second"); n != 5 {
		t.Errorf("%d ticks found already fired, want 5 (one per tick, by the losing engine)", n)
	}
}

func TestCronWithSecondsFiresOnlyOnEvenSeconds(t *testing.T) {
	t.Parallel()
	b := setup(t, noon.Add(1500*time.Millisecond))
	b.start(t, timer.TimerRule{Ref: "examples.even", Trigger: timer.CronTrigger, TriggerParams: json.RawMessage(`{"expression":"*/2 * * * * *"}`)})
	waitFor(t, "the timer to wait", 5*time.Second, func() bool { return b.clock.pending() == 1 })

	want := 0
	for s := 2; s <= 11; s++ {
		if s%2 == 0 {
			want++
		}
		b.step(t, noon.Add(time.Duration(s)*time.Second), 1, "examples.even", want)
	}
	if got := joined(ticks(t, b.store, "examples.even")); got != "12:00:02 12:00:04 12:00:06 12:00:08 12:00:10" {
		t.Fatalf("ticks %s, want the even seconds only", got)
	}
}

func TestDateTimerFiresOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, noon)
	// A control timer shows that time went on after the date while the date timer stayed silent.
	b.start(t,
		timer.TimerRule{Ref: "examples.once", Trigger: timer.DateTrigger, TriggerParams: json.RawMessage(`{"date":"2026-03-01T14:00:00+01:00"}`)},
		interval("examples.control", 1, "hours"))
	waitFor(t, "both timers to wait", 5*time.Second, func() bool { return b.clock.pending() == 2 })

	b.step(t, noon.Add(time.Hour), 1, "examples.once", 1)
	for h := 2; h <= 4; h++ {
		b.step(t, noon.Add(time.Duration(h)*time.Hour), 1, "examples.control", h)
	}
	if got := joined(ticks(t, b.store, "examples.once")); got != "13:00:00" {
		t.Fatalf("date timer ticks %s, want one at 13:00:00 UTC", got)
	}
}

func TestAMissedDateFiresOnStartUnlessItAlreadyFired(t *testing.T) {
	t.Parallel()
	b := setup(t, noon)
	rule := timer.TimerRule{Ref: "examples.missed", Trigger: timer.DateTrigger, TriggerParams: json.RawMessage(`{"date":"2026-03-01T09:30:00Z"}`)}

	b.start(t, rule)
	waitFor(t, "the missed date to fire", 5*time.Second, func() bool { return len(ticks(t, b.store, "examples.missed")) == 1 })

	// A restarted engine (a second instance on the same log) finds the tick already fired.
	b.start(t, rule)
	waitFor(t, "the second engine's timer to finish", 5*time.Second, func() bool {
		return b.logs.count("timer has no tick left", "examples.missed") == 2
	})
	if n := b.logs.count("already fired", "examples.missed"); n != 1 {
		t.Errorf("%d engines found the tick already fired, want the second one", n)
	}
	if got := joined(ticks(t, b.store, "examples.missed")); got != "09:30:00" {
		t.Fatalf("missed date ticks %s, want once at 09:30:00", got)
	}
}

func TestSetWithoutARuleStopsItsTimer(t *testing.T) {
	t.Parallel()
	b := setup(t, noon)
	tm := b.start(t, interval("examples.doomed", 1, "seconds"), interval("examples.control", 1, "seconds"))
	waitFor(t, "both timers to wait", 5*time.Second, func() bool { return b.clock.pending() == 2 })
	b.step(t, noon.Add(time.Second), 2, "examples.doomed", 1)

	if err := tm.Set([]timer.TimerRule{interval("examples.control", 1, "seconds")}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	for s := 2; s <= 4; s++ {
		b.step(t, noon.Add(time.Duration(s)*time.Second), 1, "examples.control", s)
	}
	if got := joined(ticks(t, b.store, "examples.doomed")); got != "12:00:01" {
		t.Fatalf("disabled rule ticked %s after it was removed", got)
	}
}

func TestChangedParamsRestartTheTimer(t *testing.T) {
	t.Parallel()
	b := setup(t, noon)
	tm := b.start(t, interval("examples.changing", 2, "seconds"))
	waitFor(t, "the timer to wait", 5*time.Second, func() bool { return b.clock.pending() == 1 })
	b.step(t, noon.Add(2*time.Second), 1, "examples.changing", 1)

	if err := tm.Set([]timer.TimerRule{interval("examples.changing", 5, "seconds")}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	for s := 3; s <= 10; s++ {
		want := 1 + s/5
		b.step(t, noon.Add(time.Duration(s)*time.Second), 1, "examples.changing", want)
	}
	// The clock's abandoned wait of the old timer still counts as pending; what matters is the
	// log: 2s ticks stopped, 5s ticks started.
	if got := joined(ticks(t, b.store, "examples.changing")); got != "12:00:02 12:00:05 12:00:10" {
		t.Fatalf("ticks %s, want 12:00:02 then every 5s", got)
	}
}

func TestSetReportsBadRulesAndRunsTheGoodOnes(t *testing.T) {
	t.Parallel()
	b := setup(t, noon)
	tm := timer.New(timer.Config{Store: b.store, Clock: b.clock})
	err := tm.Set([]timer.TimerRule{
		{Ref: "examples.bad_cron", Trigger: timer.CronTrigger, TriggerParams: json.RawMessage(`{"expression":"* * * * *"}`)},
		{Ref: "examples.not_timer", Trigger: "examples.ping", TriggerParams: json.RawMessage(`{}`)},
		interval("examples.good", 1, "seconds"),
	})
	for _, want := range []string{"examples.bad_cron", "bad cron expression", "examples.not_timer", "not a timer trigger"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set error %v: want it to mention %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "examples.good") {
		t.Errorf("Set error %v blames the good rule", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the good timer to wait", 5*time.Second, func() bool { return b.clock.pending() == 1 })
	b.step(t, noon.Add(time.Second), 1, "examples.good", 1)
	if n := len(firedEvents(t, b.store)); n != 1 {
		t.Fatalf("%d events, want only the good rule's tick", n)
	}
}

func TestRunTwiceAtOnceIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, noon)
	tm := b.start(t)
	waitFor(t, "Run to start", 5*time.Second, func() bool {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return tm.Run(ctx) != nil
	})
}
