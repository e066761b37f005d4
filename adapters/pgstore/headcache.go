package pgstore

import "sync"

// maxCachedHeads bounds the head cache; when full it starts over, which costs one extra read
// per stream touched next, nothing more.
const maxCachedHeads = 10_000

// head is the last event of a stream as this process last saw it.
type head struct {
	version int64
	hash    []byte
}

// headCache remembers stream heads this process appended or read, so that the common append
// (load a stream, then append with Exact of its version) skips reading the head again. A stale
// entry is harmless: the head's hash never changes once written, and if the stream moved on,
// the insert of version+1 hits the unique (stream_id, stream_version) key and the append falls
// back to reading the head.
type headCache struct {
	mu    sync.Mutex
	heads map[string]head
}

func (c *headCache) get(stream string) (head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heads[stream]
	return h, ok
}

// put records h unless the cache already knows a later version of the stream.
func (c *headCache) put(stream string, h head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heads == nil || len(c.heads) >= maxCachedHeads {
		c.heads = make(map[string]head)
	}
	if old, ok := c.heads[stream]; ok && old.version > h.version {
		return
	}
	c.heads[stream] = h
}

func (c *headCache) forget(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.heads, stream)
}
