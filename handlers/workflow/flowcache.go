package workflow

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
)

// DefaultCachedFlows is how many parent flows the engine keeps folded when Config.CachedFlows
// is zero.
const DefaultCachedFlows = 10_000

// lockStripes bounds the per-parent locks: streams that share a stripe wait on each other,
// which with at most a few dozen handler invocations in flight is rare.
const lockStripes = 256

// flowCache keeps parent flows folded between messages, so that each message folds only
// the events appended since, instead of the whole stream: without it a with-items task of
// N items re-reads and re-folds O(N) events per child, O(N²) in all.
//
// It is only an optimisation. A flow is taken out of the cache by the invocation that uses
// it (a decision mutates it), and put back only once it is known to be the fold of the log up
// to its version (nothing decided, or the decision appended with Exact(version)); anything
// else drops it and the next message folds from scratch. The per-parent locks keep
// concurrent invocations for one parent from racing to a version conflict and from missing
// the cache while another holds the flow; correctness does not depend on them.
type flowCache struct {
	max   int // <= 0: nothing is cached
	seed  maphash.Seed
	locks [lockStripes]chan struct{}

	mu      sync.Mutex
	entries map[string]*list.Element // stream → its element of order
	order   *list.List               // of *cached, most recently put first
}

type cached struct {
	stream string
	f      *flow
}

func newFlowCache(maxFlows int) *flowCache {
	c := &flowCache{
		max:     maxFlows,
		seed:    maphash.MakeSeed(),
		entries: map[string]*list.Element{},
		order:   list.New(),
	}
	for i := range c.locks {
		c.locks[i] = make(chan struct{}, 1)
	}
	return c
}

// lock waits until no other invocation works on stream's flow, or ctx ends.
func (c *flowCache) lock(ctx context.Context, stream string) (unlock func(), err error) {
	l := c.locks[maphash.String(c.seed, stream)%lockStripes]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for workflow %s: %w", stream, context.Cause(ctx))
	}
}

// take removes and returns the cached flow of stream, or nil.
func (c *flowCache) take(stream string) *flow {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[stream]
	if !ok {
		return nil
	}
	delete(c.entries, stream)
	c.order.Remove(el)
	return el.Value.(*cached).f
}

// put caches f, the fold of stream up to f.parent.Version(). A finished workflow is not
// kept, nothing more is decided for it; nor is an execution the engine has not started (a
// plain execution being cancelled, say).
func (c *flowCache) put(stream string, f *flow) {
	if c.max <= 0 || f == nil || f.def == nil || f.parent.Status().Terminal() {
		return
	}
	if _, done := f.st.Done(); done {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok {
		if el.Value.(*cached).f.parent.Version() >= f.parent.Version() {
			return // never replace a flow by an older one
		}
		c.order.Remove(el)
	}
	c.entries[stream] = c.order.PushFront(&cached{stream: stream, f: f})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.entries, old.Value.(*cached).stream)
	}
}
