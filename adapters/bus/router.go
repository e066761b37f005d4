package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/outage"
)

// HandlerFunc handles one recorded event. Delivery is at least once and in no particular
// order, so it must be idempotent: load what it needs from the log and append with an expected
// version or into a deterministic stream. An error is retried with backoff; when the retries
// run out the message goes to the poison topic.
type HandlerFunc func(ctx context.Context, e eventstore.Recorded) error

// Router runs handlers, each on its own subscription, behind the middleware every handler
// needs: Recoverer → CorrelationID → PoisonQueue → Retry (retry.go: what each failure means).
type Router struct {
	bus    *Bus
	log    *slog.Logger
	router *message.Router
	names  map[string]string // handler name → event type
	// delivered counts each handler's deliveries (Config.Deliveries); written only before
	// Start, read by the consumers after.
	delivered map[string]func()
	subs      []subscription

	mu      sync.Mutex
	started bool
	stop    sync.Once
	done    chan struct{} // closed when the watermill router has returned
	runErr  error
	closing chan struct{} // closed when Close begins: retries end, messages are nacked
	closed  sync.Once
	down    *outage.Log // handlers waiting out an outage, logged once
}

// ErrPermanent marks an error that no retry can fix (a malformed message, say): the message
// goes to the poison topic at once. Wrap with Permanent.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// NewRouter makes a router on the bus. On the in-process bus, publishing waits until every
// router made on it is running, and fails for good once one is closed: stop the relay first.
func (b *Bus) NewRouter() *Router {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: b.cfg.CloseTimeout}, b.wlog)
	if err != nil {
		panic(fmt.Sprintf("bus: watermill router: %v", err)) // its config has nothing to reject
	}
	// Only a shutdown cancels a message's context; such a failure says nothing about the
	// message, which must go back to the queue, not to the poison topic.
	poison, err := middleware.PoisonQueueWithFilter(poisonLog{pub: b.pub, log: b.log}, PoisonTopic,
		func(err error) bool { return !errors.Is(err, context.Canceled) })
	if err != nil {
		panic(fmt.Sprintf("bus: poison queue middleware: %v", err)) // the topic is a constant
	}
	router := &Router{
		bus: b, log: b.log, router: r, names: map[string]string{}, delivered: map[string]func(){},
		done: make(chan struct{}), closing: make(chan struct{}),
		down: outage.NewLog(b.log, "handlers: a dependency (database or broker)"),
	}
	r.AddMiddleware(
		router.countDelivery,
		middleware.Recoverer,
		middleware.CorrelationID,
		poison,
		router.retry,
	)
	if b.gate != nil {
		b.gate.add()
	}
	return router
}

var handlerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// AddHandler subscribes h to the events of one type under a name. The name is a persisted
// identifier (it names the handler's queue): keep it constant, and unique in the deployment.
// It panics on a duplicate or malformed name, or after Start: those are wiring mistakes.
func (r *Router) AddHandler(name, eventType string, h HandlerFunc) {
	r.addHandler(name, eventType, []string{binding(eventType)}, 0, h)
}

// addHandler is AddHandler with the handler's subscription: its queue is bound with keys,
// and expires after idle without a consumer if idle > 0 (newSubscriber).
func (r *Router) addHandler(name, eventType string, keys []string, idle time.Duration, h HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.started:
		panic(fmt.Sprintf("bus: handler %q added after the router started", name))
	case !handlerName.MatchString(name):
		panic(fmt.Sprintf("bus: handler name %q: want letters, digits, '.', '_', ':' or '-'", name))
	case eventType == "":
		panic(fmt.Sprintf("bus: handler %q: empty event type", name))
	case h == nil:
		panic(fmt.Sprintf("bus: handler %q: nil function", name))
	}
	if prev, dup := r.names[name]; dup {
		panic(fmt.Sprintf("bus: handler name %q used twice (for %s and %s)", name, prev, eventType))
	}
	sub, err := r.bus.newSubscriber(name, eventType, keys, idle)
	if err != nil {
		panic(fmt.Sprintf("bus: subscriber for handler %q: %v", name, err)) // config was validated
	}
	r.bus.Consumes(eventType, keys...)
	r.names[name] = eventType
	r.subs = append(r.subs, subscription{handler: name, topic: eventType, keys: keys, sub: sub})
	if r.bus.cfg.Deliveries != nil {
		r.delivered[name] = r.bus.cfg.Deliveries(name)
	}
	if r.bus.cfg.Instrument != nil {
		h = r.bus.cfg.Instrument(name, h)
	}
	// Consumers run side by side, competing for the handler's queue (on RabbitMQ and in
	// process alike), so one slow message does not hold up the handler's others.
	for i := range r.bus.cfg.Consumers {
		watermillName := name
		if i > 0 {
			watermillName = fmt.Sprintf("%s#%d", name, i)
		}
		r.router.AddConsumerHandler(watermillName, eventType, sub, r.adapt(name, h))
	}
}

// Bindings are the routing keys the queues of this router's handlers are bound with, by
// topic ("" or "#": every event of the topic; route.go).
func (r *Router) Bindings() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, s := range r.subs {
		out[s.topic] = append(out[s.topic], s.keys...)
	}
	return out
}

// countDelivery counts a message handed to a handler, once whatever its retries.
func (r *Router) countDelivery(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name, _, _ := strings.Cut(message.HandlerNameFromCtx(msg.Context()), "#") // not which consumer
		if inc := r.delivered[name]; inc != nil {
			inc()
		}
		return h(msg)
	}
}

// adapt turns a HandlerFunc into watermill's form: decode (once for every handler of the
// event in this process: decoded.go), recover, and label errors so that the middleware above
// can tell a shutdown from a failure.
func (r *Router) adapt(name string, h HandlerFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) (err error) {
		e, err := r.bus.decoded.decode(msg) // once for all the handlers of the process
		if err != nil {
			return Permanent(fmt.Errorf("handler %s: %w", name, err))
		}
		ctx := msg.Context()
		defer func() {
			// Recovered here, inside Retry and PoisonQueue, so a handler that always panics
			// ends on the poison topic instead of being redelivered forever.
			if p := recover(); p != nil {
				err = fmt.Errorf("handler %s panicked on event %s (%s): %v\n%s", name, e.ID, e.Type, p, debug.Stack())
			}
		}()
		if err := h(ctx, e); err != nil {
			if ctx.Err() != nil {
				// Shutting down: whatever failed, the message goes back to its queue.
				return fmt.Errorf("handler %s on event %s: %w (%w)", name, e.ID, ctx.Err(), err)
			}
			if errors.Is(err, context.Canceled) {
				// Not ours to cancel: a real failure, which must not pass for a shutdown.
				return fmt.Errorf("handler %s on event %s: %v", name, e.ID, err)
			}
			return fmt.Errorf("handler %s on event %s: %w", name, e.ID, err)
		}
		return nil
	}
}

// Declare creates every handler's exchange, queue and binding without consuming, so that
// events relayed before the handlers' process first starts wait in their queues: run it
// where the relay runs, before the relay, when roles run in separate processes. Start does
// the same for its own handlers. Nothing to do in process.
func (r *Router) Declare() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		init, ok := s.sub.(message.SubscribeInitializer)
		if !ok {
			continue
		}
		if err := init.SubscribeInitialize(s.topic); err != nil {
			return fmt.Errorf("declare queue of handler %s (%s): %w", s.handler, s.topic, err)
		}
	}
	return nil
}

type subscription struct {
	handler, topic string
	keys           []string
	sub            message.Subscriber
}

// Start subscribes every handler (declaring their queues) and returns once they all run.
// The router stops when ctx ends or Close is called.
func (r *Router) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("start router: already started")
	}
	r.started = true
	r.mu.Unlock()

	// The watermill router gets a context that only Close cancels, so the in-process bus
	// learns that the router is stopping before any subscription drops a message.
	go func() {
		err := r.router.Run(context.WithoutCancel(ctx))
		r.mu.Lock()
		r.runErr = err
		r.mu.Unlock()
		close(r.done)
	}()
	select {
	case <-r.router.Running():
	case <-r.done:
		r.markStopped(false)
		return fmt.Errorf("start router: %w", r.err())
	}
	if r.bus.gate != nil {
		r.bus.gate.started()
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = r.Close()
		case <-r.done:
			// Every subscription ended on its own (the broker went away for good).
			r.markStopped(true)
		}
	}()
	return nil
}

// Running is closed once every handler runs.
func (r *Router) Running() <-chan struct{} { return r.router.Running() }

// Close stops the router, waiting (up to Config.CloseTimeout) for handlers in flight.
func (r *Router) Close() error {
	r.closed.Do(func() { close(r.closing) })
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	r.markStopped(started)
	if !started {
		return nil // watermill would wait CloseTimeout for handlers that never ran
	}
	if err := r.router.Close(); err != nil {
		return fmt.Errorf("close router: %w", err)
	}
	<-r.done
	if err := r.err(); err != nil {
		return fmt.Errorf("close router: %w", err)
	}
	return nil
}

func (r *Router) markStopped(wasRunning bool) {
	r.stop.Do(func() {
		if r.bus.gate != nil {
			r.bus.gate.stopped(wasRunning)
		}
	})
}

func (r *Router) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runErr
}

// poisonLog records every poisoning in the log: on the in-process bus, the log line is all
// that remains of a poisoned message once nobody reads the poison topic.
type poisonLog struct {
	pub message.Publisher
	log *slog.Logger
}

func (p poisonLog) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		// Name the handler, not which of its consumers ("name#3") happened to take the message.
		if h, _, ok := strings.Cut(m.Metadata.Get(middleware.PoisonedHandlerKey), "#"); ok {
			m.Metadata.Set(middleware.PoisonedHandlerKey, h)
		}
		p.log.Error("event poisoned", "handler", m.Metadata.Get(middleware.PoisonedHandlerKey),
			"event_id", m.UUID, "event_type", m.Metadata.Get(MetaType), "stream_id", m.Metadata.Get(MetaStreamID),
			"reason", m.Metadata.Get(middleware.ReasonForPoisonedKey))
	}
	if err := p.pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

func (p poisonLog) Close() error { return nil } // the bus owns the publisher
