package timer

import "time"

// Clock is the time source of the timers. Tests inject a manual clock so a schedule of hours
// runs in microseconds; the engine uses RealClock.
type Clock interface {
	Now() time.Time
	// After delivers once, when d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock. An unfired timer is collected once unreferenced (Go ≥ 1.23), so an
// abandoned wait does not leak.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
