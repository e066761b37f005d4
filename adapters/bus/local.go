package bus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// local is the in-process transport: RabbitMQ's topology without a broker. Each topic fans
// out to one queue per handler name, and the consumers of one queue compete for its
// messages, so a handler works on as many messages at once as it has consumers.
//
// It replaces watermill's gochannel, measured first: gochannel gives every subscription every
// message, one at a time, so consumers sharing a handler had to skip each other's messages in
// order, and one slow message held up every publish behind it (≈70 executions/s end to end).
//
// Publish returns once every queue's consumer acked the message: the relay's checkpoint then
// never passes an event a handler has not finished, which is what "confirmed" means without
// a broker. A nacked message is delivered again.
//
// A queue is bound with keys, as on RabbitMQ's topic exchanges (route.go): "" or "#" takes
// every message of its topic, any other key the messages whose routing key it matches, so a
// worker's queue gets only what is addressed to it.
type local struct {
	mu     sync.Mutex
	queues map[string]map[string]*localQueue // topic → handler → queue
	// routes memoises the queues a routed topic reaches (routed(topic, key)); forgotten
	// whenever a queue is made.
	routes map[string][]*localQueue
	closed chan struct{}
	once   sync.Once
}

func newLocal() *local {
	return &local{queues: map[string]map[string]*localQueue{}, routes: map[string][]*localQueue{}, closed: make(chan struct{})}
}

type localQueue struct {
	ch   chan *message.Message
	keys []string // bindings: "" or "#" for every message, else the routing keys it matches

	mu   sync.Mutex
	subs int // consumers subscribed now
}

func (l *local) queue(topic, handler string, keys []string) *localQueue {
	l.mu.Lock()
	defer l.mu.Unlock()
	byHandler, ok := l.queues[topic]
	if !ok {
		byHandler = map[string]*localQueue{}
		l.queues[topic] = byHandler
	}
	q, ok := byHandler[handler]
	if !ok {
		q = &localQueue{ch: make(chan *message.Message), keys: keys}
		byHandler[handler] = q
		clear(l.routes)
	}
	return q
}

// Publish implements message.Publisher. The topic may carry a routing key (routed).
func (l *local) Publish(route string, msgs ...*message.Message) error {
	topic, key := splitRoute(route)
	l.mu.Lock()
	queues, known := l.routes[route]
	if !known {
		for _, q := range l.queues[topic] {
			if slices.ContainsFunc(q.keys, func(b string) bool { return Matches(b, key) }) {
				queues = append(queues, q)
			}
		}
		l.routes[route] = queues
	}
	l.mu.Unlock()
	for _, m := range msgs {
		errs := make([]error, len(queues))
		var wg sync.WaitGroup
		for i, q := range queues {
			wg.Go(func() { errs[i] = l.deliver(q, m) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// redeliverPause is the wait before a nacked message is offered again.
const redeliverPause = 20 * time.Millisecond

var errNoConsumer = errors.New("in-process bus: a handler has no consumer left, delivery is not certain")

// deliver hands a copy of m to one consumer of q and waits for its ack, again after a nack.
// It gives up when the publisher's context (the message's) ends: the publisher then claims
// nothing, and its caller (the relay) publishes again from its checkpoint.
func (l *local) deliver(q *localQueue, m *message.Message) error {
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	done := m.Context().Done()
	for {
		c := m.Copy()
		c.SetContext(m.Context())
	handOver:
		for {
			select {
			case q.ch <- c:
				break handOver
			case <-l.closed:
				return errors.New("in-process bus: closed")
			case <-done:
				return m.Context().Err()
			case <-check.C:
				if q.consumers() == 0 {
					return errNoConsumer
				}
			}
		}
		select {
		case <-c.Acked():
			return nil
		case <-c.Nacked():
			// A nack is "not now": the handler's router is stopping (its retries end on a
			// shutdown, and a transient failure never ends them), or the poison queue failed.
			// Like RabbitMQ's requeue, the message goes back to the queue, for another consumer
			// or this one once it runs again; a short pause keeps a stopping router from
			// bouncing it between its consumers.
			select {
			case <-time.After(redeliverPause):
			case <-l.closed:
				return errors.New("in-process bus: closed")
			case <-done:
				return m.Context().Err()
			}
		case <-l.closed:
			return errors.New("in-process bus: closed")
		case <-done:
			return m.Context().Err()
		}
	}
}

func (q *localQueue) consumers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.subs
}

// Close implements message.Publisher: it ends every delivery under way.
func (l *local) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// subscriber returns the consumer side of one handler's queue on topic, created now so that
// events published before the handler's router runs are not lost on it (publishing waits for
// the routers in any case: see gate).
func (l *local) subscriber(handler, topic string, keys []string) message.Subscriber {
	l.queue(topic, handler, keys)
	return localSubscriber{l: l, handler: handler}
}

// localSubscriber is one handler's side of its queues: every Subscribe is one more consumer
// competing for the queue's messages.
type localSubscriber struct {
	l       *local
	handler string
}

// Subscribe implements message.Subscriber. The channel closes when ctx ends; a message taken
// from the queue but not yet handed over then is nacked, so another consumer gets it.
func (s localSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	q := s.l.queue(topic, s.handler, nil) // made by subscriber, with its keys
	q.mu.Lock()
	q.subs++
	q.mu.Unlock()
	out := make(chan *message.Message)
	go func() {
		defer func() {
			q.mu.Lock()
			q.subs--
			q.mu.Unlock()
			close(out)
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.l.closed:
				return
			case m := <-q.ch:
				select {
				case out <- m:
				case <-ctx.Done():
					m.Nack()
					return
				}
			}
		}
	}()
	return out, nil
}

// Close implements message.Subscriber; the queues belong to the bus.
func (localSubscriber) Close() error { return nil }
