package heartbeat

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultCacheAge is how old an answer of Cache.Live may be.
const DefaultCacheAge = 100 * time.Millisecond

// Lister lists the live workers: what Cache reads through (a *Store).
type Lister interface {
	Live(ctx context.Context, ttl time.Duration) ([]Worker, error)
}

// Cache answers Live from a copy of the table's answer at most MaxAge old, so that a burst of
// placements (the scheduler asks at every one) reads the table once, not once each. Callers
// that find no worker fit ask Refresh, which reads the table now: a worker that has just
// registered, or just freed a slot, is then found at once, not MaxAge later. A Cache belongs
// to one process; the table remains the truth it copies.
//
// Concurrent callers that miss share one read. Each caller gets its own slice.
type Cache struct {
	src    Lister
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[time.Duration]*cached // by ttl: the scheduler asks with one
}

type cached struct {
	done    chan struct{} // closed once the read below has returned
	at      time.Time     // when the read began: the answer is at least this fresh
	workers []Worker
	err     error
}

// NewCache returns a cache over src whose answers are at most maxAge old (DefaultCacheAge if
// 0). now is the clock (time.Now if nil).
func NewCache(src Lister, maxAge time.Duration, now func() time.Time) *Cache {
	if src == nil {
		panic("heartbeat: nil source for the cache") // wiring error
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{src: src, maxAge: cmp.Or(maxAge, DefaultCacheAge), now: now, entries: map[time.Duration]*cached{}}
}

// Live lists the workers alive within ttl as the table said at most MaxAge ago.
func (c *Cache) Live(ctx context.Context, ttl time.Duration) ([]Worker, error) {
	for {
		// Checking the entry and starting a read are one step under mu: two callers that miss
		// at once must not both read.
		c.mu.Lock()
		e := c.entries[ttl]
		inFlight := e != nil && !closed(e.done)
		if e == nil || (!inFlight && (e.err != nil || c.now().Sub(e.at) >= c.maxAge)) {
			e = c.startLocked(ttl)
			c.mu.Unlock()
			return c.read(ctx, ttl, e)
		}
		c.mu.Unlock()
		select {
		case <-e.done:
			if e.err == nil {
				// Fresh, or read while this caller waited: as fresh as one of its own.
				return slices.Clone(e.workers), nil
			}
			// That read failed (perhaps only its own context ended): try again, reading
			// ourselves if nobody else is.
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Refresh reads the table now, keeps the answer for the callers of Live, and returns it.
func (c *Cache) Refresh(ctx context.Context, ttl time.Duration) ([]Worker, error) {
	c.mu.Lock()
	e := c.startLocked(ttl)
	c.mu.Unlock()
	return c.read(ctx, ttl, e)
}

// startLocked installs a new entry for ttl that a read is about to fill; the caller holds mu.
func (c *Cache) startLocked(ttl time.Duration) *cached {
	e := &cached{done: make(chan struct{}), at: c.now()}
	c.entries[ttl] = e
	return e
}

// read fills e from the table; a failed read is forgotten, so that the next caller reads.
func (c *Cache) read(ctx context.Context, ttl time.Duration, e *cached) ([]Worker, error) {
	e.workers, e.err = c.src.Live(ctx, ttl)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[ttl] == e {
			delete(c.entries, ttl)
		}
		c.mu.Unlock()
		close(e.done)
		return nil, e.err
	}
	close(e.done)
	return slices.Clone(e.workers), nil
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
