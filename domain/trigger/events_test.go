package trigger_test

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/trigger"
)

func TestATimerTickHasOneEventID(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 3, 1, 12, 0, 2, 0, time.UTC)
	id := trigger.TimerEventID("core.every_two_seconds", tick)
	if id != trigger.TimerEventID("core.every_two_seconds", tick.In(time.FixedZone("X", 3600))) {
		t.Fatal("the same tick in another zone derived another id")
	}
	if id == trigger.TimerEventID("core.every_two_seconds", tick.Add(2*time.Second)) || id == trigger.TimerEventID("core.other", tick) {
		t.Fatal("different ticks or rules derived the same id")
	}
	if !ulid.Time(id.Time()).Equal(tick) {
		t.Fatalf("id time %s, want the tick %s", ulid.Time(id.Time()), tick)
	}
	if got := trigger.StreamID(id.String()); got != "event-"+id.String() {
		t.Fatalf("StreamID = %q", got)
	}
}

func TestParseSource(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"timer", "webhook", "sensor", "api"} {
		if _, err := trigger.ParseSource(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "API", "cli", "cron"} {
		if _, err := trigger.ParseSource(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
