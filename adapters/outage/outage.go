// Package outage helps long-running roles wait out a database or broker that went away:
// a capped exponential backoff with jitter, and a log that says once that a dependency is
// down and once that it is back, however many retries lie between.
package outage

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Default bounds of the wait between retries: the first retry comes quickly (most outages
// are a restart), later ones at most every MaxWait so the role resumes within seconds of
// the service returning.
const (
	MinWait = 100 * time.Millisecond
	MaxWait = 5 * time.Second
)

// Backoff is a capped exponential backoff with ±25% jitter, so that roles failing on one
// shared cause do not retry in lockstep. The zero value uses MinWait and MaxWait.
type Backoff struct {
	Min, Max   time.Duration
	Multiplier float64 // growth per attempt; 0: 2
	cur        time.Duration
}

// Next returns the wait before the next attempt and doubles the following one, up to Max.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = MinWait
	}
	if hi <= 0 {
		hi = MaxWait
	}
	if b.cur < lo {
		b.cur = lo
	}
	d := b.cur
	m := b.Multiplier
	if m < 1 {
		m = 2
	}
	b.cur = min(time.Duration(float64(b.cur)*m), hi)
	jitter := time.Duration((rand.Float64()*0.5 - 0.25) * float64(d))
	return max(d+jitter, time.Millisecond)
}

// Reset starts the next run of failures from Min again.
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps Next() or until ctx ends, reporting whether the whole wait elapsed.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Log reports an outage of one dependency of one role: Failed logs at warn on the first
// failure only, Recovered logs at info once the role works again (with how long it was
// down), and nothing in between. It is safe for concurrent use.
type Log struct {
	log  *slog.Logger
	what string

	mu    sync.Mutex
	since time.Time // zero: no outage
	tries int
}

// NewLog returns a Log for the role or step named what ("relay leadership").
func NewLog(log *slog.Logger, what string) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{log: log, what: what}
}

// Failed records one failed attempt; the first of an outage is logged.
func (o *Log) Failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tries++
	if !o.since.IsZero() {
		return
	}
	o.since = time.Now()
	o.log.Warn(o.what+": unavailable, retrying until it is back", "error", err.Error())
}

// Recovered records a success; it logs the end of an outage, if there was one.
func (o *Log) Recovered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	o.log.Info(o.what+": back", "down_for", time.Since(o.since).Round(time.Millisecond), "attempts", o.tries)
	o.since, o.tries = time.Time{}, 0
}

// Down reports whether an outage is under way.
func (o *Log) Down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.since.IsZero()
}
