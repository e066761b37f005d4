package outage_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/outage"
)

func TestBackoffGrowsToItsCapWithJitter(t *testing.T) {
	t.Parallel()
	b := outage.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	var last time.Duration
	for i := range 20 {
		d := b.Next()
		if d < 75*time.Millisecond || d > 5*time.Second*5/4 {
			t.Fatalf("wait %d = %s, want within 100ms..5s ±25%%", i, d)
		}
		last = d
	}
	if last < 3750*time.Millisecond {
		t.Errorf("after 20 attempts the wait is %s, want it at the 5s cap (±25%%)", last)
	}
	b.Reset()
	if d := b.Next(); d > 125*time.Millisecond {
		t.Errorf("first wait after Reset = %s, want about 100ms", d)
	}
}

func TestLogReportsAnOutageOnceAndItsEndOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	o := outage.NewLog(slog.New(slog.NewTextHandler(&buf, nil)), "relay: leadership")
	o.Recovered() // nothing was down: nothing to say
	for range 50 {
		o.Failed(errors.New("connection refused"))
	}
	if !o.Down() {
		t.Error("Down() = false during an outage")
	}
	o.Recovered()
	o.Recovered()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "connection refused") ||
		!strings.Contains(lines[1], "level=INFO") || !strings.Contains(lines[1], "attempts=50") {
		t.Errorf("log of one outage with 50 failures:\n%s\nwant one warning, then one info line with attempts=50", buf.String())
	}
}
