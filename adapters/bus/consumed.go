package bus

import "slices"

// An event no handler binds reaches no queue: a fanout exchange with no queue, or a topic
// exchange with no binding matching its key, drops it. Publishing it anyway costs the
// publisher its encoding and a confirmed publish, and the broker a routing, for nothing — on
// a plain execution, three of its six events (the status changes to scheduling, scheduled and
// running, which no handler acts on). So the bus keeps the bindings of every handler added
// to its routers (and those named with Consumes), and Publish confirms at once, without
// sending, an event that none of them matches.
//
// In process that is always right: a handler that is not on one of the bus's routers cannot
// receive anything. On RabbitMQ handlers of other processes bind queues too (a worker's, in
// `attune worker`), so the bus skips only when Config.OnlyConsumed says that every handler
// of the deployment is known to it: its own routers' and those its process names with
// Consumes. A handler added later, in any process, is covered as soon as it is registered:
// its bindings are what decide, not a list of event types.

// Consumes records that handlers outside this bus's routers (in another process) bind
// topic's queues with keys ("" or "#": every event of the topic; route.go). With
// Config.OnlyConsumed, events that neither they nor this bus's own handlers bind are not sent.
func (b *Bus) Consumes(topic string, keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if !slices.Contains(b.consumed[topic], k) {
			b.consumed[topic] = append(b.consumed[topic], k)
		}
	}
	clear(b.sent)
}

// sends reports whether an event of topic with routing key would reach a queue: whether a
// binding recorded for the topic matches key. Without Config.OnlyConsumed, on RabbitMQ,
// everything is sent.
func (b *Bus) sends(topic, key string) bool {
	if b.local == nil && !b.cfg.OnlyConsumed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	route := routed(topic, key)
	send, known := b.sent[route]
	if !known {
		// Remembered: a handful of keys per topic, each matched against every binding.
		send = slices.ContainsFunc(b.consumed[topic], func(binding string) bool { return Matches(binding, key) })
		b.sent[route] = send
	}
	return send
}
