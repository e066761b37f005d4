// Package groupcommit gathers the appends of concurrent callers into one multi-stream append
// of the store beneath (AppendMany): group commit. In Postgres that is one transaction, one
// INSERT and one NOTIFY for many handlers' appends, where each used to cost its own.
//
// It adds no wait of its own: an Append that finds the writer idle is sent at once, alone.
// Appends that arrive while a request is on its way queue up, and go together, up to
// MaxEvents, as soon as it returns — the classic group commit, where the batch grows with
// the load and the latency of one commit bounds the wait.
//
// Each caller gets its own verdict: its NextExpected, its own *VersionConflictError (the
// store checks every entry's expected version, and an entry that conflicts fails alone), its
// own invalid-append error. An outage fails every caller of the request with the store's
// error (pgstore.ErrUnavailable), and nothing of the request is written.
package groupcommit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/attune-go/attune/adapters/eventstore"
)

// DefaultMaxEvents caps the events of one request unless Config says otherwise.
const DefaultMaxEvents = 256

// Config tunes a Writer. The zero value is valid.
type Config struct {
	// MaxEvents caps the events gathered into one request; default DefaultMaxEvents. An
	// append larger than it goes alone.
	MaxEvents int
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	if c.MaxEvents < 0 {
		return fmt.Errorf("MaxEvents %d: want >= 0 (0: default)", c.MaxEvents)
	}
	return nil
}

var _ eventstore.Store = (*Writer)(nil)

// Writer is a store whose Append goes through group commit. Reads, subscriptions and
// AppendMany pass straight to the store beneath. It is safe for concurrent use and holds no
// goroutine while idle, so it needs no Start or Stop.
type Writer struct {
	eventstore.Store
	maxEvents int

	mu       sync.Mutex
	queue    []*call
	flushing bool // a goroutine is sending requests; it takes the queue when it empties
}

// New returns a Writer in front of store; one per process, shared by every appender.
func New(store eventstore.Store, cfg Config) (*Writer, error) {
	if store == nil {
		return nil, errors.New("groupcommit: nil store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("groupcommit config: %w", err)
	}
	return &Writer{Store: store, maxEvents: cmp.Or(cfg.MaxEvents, DefaultMaxEvents)}, nil
}

// call is one Append waiting for its request.
type call struct {
	ctx    context.Context
	append eventstore.StreamAppend
	done   chan struct{} // closed once res is set
	res    eventstore.StreamResult
	taken  bool // in a request (under Writer.mu): its caller can no longer withdraw it
}

// Append implements eventstore.Store. On an idle writer it sends the append at once, alone,
// from the caller's goroutine (ctx's end then cancels that request, as it would a direct
// append). Otherwise it queues the append and waits for its own verdict. A caller whose ctx
// ends while its append is still queued withdraws it (nothing is written); once its request
// is on its way, the caller returns at once with ctx's error and the others' request goes on
// undisturbed (its append may then be written, as with any append cancelled while the
// database commits).
func (w *Writer) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := eventstore.CheckAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w", len(events), stream, err)
	}
	c := &call{ctx: ctx, append: eventstore.StreamAppend{Stream: stream, Expected: expected, Events: events}, done: make(chan struct{})}
	w.mu.Lock()
	if !w.flushing {
		// Idle: this caller sends its append itself, alone and at once, with no hand-over to
		// another goroutine. Whoever queues meanwhile is sent by a flusher started after.
		w.flushing = true
		c.taken = true
		w.mu.Unlock()
		w.send([]*call{c})
		w.mu.Lock()
		if len(w.queue) > 0 {
			go w.flush()
		} else {
			w.flushing = false
		}
		w.mu.Unlock()
		return c.res.AppendResult, c.res.Err
	}
	w.queue = append(w.queue, c)
	w.mu.Unlock()

	select {
	case <-c.done:
		return c.res.AppendResult, c.res.Err
	case <-ctx.Done():
	}
	w.mu.Lock()
	withdrawn := !c.taken && w.withdraw(c)
	w.mu.Unlock()
	if withdrawn {
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w (withdrawn before it was sent: nothing written)", len(events), stream, ctx.Err())
	}
	select {
	case <-c.done: // the verdict came in meanwhile
		return c.res.AppendResult, c.res.Err
	default:
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w (it was on its way and may still be written)", len(events), stream, ctx.Err())
	}
}

// withdraw removes c from the queue; w.mu is held.
func (w *Writer) withdraw(c *call) bool {
	i := slices.Index(w.queue, c)
	if i < 0 {
		return false
	}
	w.queue = slices.Delete(w.queue, i, i+1)
	return true
}

// flush sends requests until the queue is empty.
func (w *Writer) flush() {
	for {
		w.mu.Lock()
		batch := w.take()
		if len(batch) == 0 {
			w.flushing = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		w.send(batch)
	}
}

// take removes from the front of the queue the calls of the next request: at least one, and
// no more than MaxEvents events. w.mu is held.
func (w *Writer) take() []*call {
	n, events := 0, 0
	for _, c := range w.queue {
		if n > 0 && events+len(c.append.Events) > w.maxEvents {
			break
		}
		n++
		events += len(c.append.Events)
		c.taken = true
	}
	batch := slices.Clone(w.queue[:n])
	w.queue = slices.Delete(w.queue, 0, n) // zeroes the tail: no sent call stays referenced
	return batch
}

// send runs one request and hands each call its verdict. The request's context ends only
// when every one of its callers has given up: one caller's cancellation does not cut the
// others' commit short.
func (w *Writer) send(batch []*call) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	appends := make([]eventstore.StreamAppend, len(batch))
	for i, c := range batch {
		appends[i] = c.append
		stop := context.AfterFunc(c.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	results, err := w.Store.AppendMany(ctx, appends)
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("the store answered %d results to %d appends", len(results), len(batch))
	}
	for i, c := range batch {
		switch {
		case err != nil && ctx.Err() != nil && c.ctx.Err() != nil:
			// Every caller gave up, which ended the request: each is told why it gave up.
			a := c.append
			c.res = eventstore.StreamResult{Err: fmt.Errorf("append %d events to %s: %w", len(a.Events), a.Stream, c.ctx.Err())}
		case err != nil && len(batch) == 1:
			c.res = eventstore.StreamResult{Err: err}
		case err != nil:
			a := c.append
			c.res = eventstore.StreamResult{Err: fmt.Errorf("append %d events to %s (in one request with %d others): %w",
				len(a.Events), a.Stream, len(batch)-1, err)}
		default:
			c.res = results[i]
		}
		close(c.done)
	}
}
