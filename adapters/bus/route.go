package bus

import (
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// Addressed topics carry messages meant for one consumer: a worker. Their events are
// published with a routing key derived from the event (WorkerKey of the worker it names), and
// a worker's queue is bound with its own key only, so each message reaches one worker instead
// of every worker's queue (N copies for N workers, N-1 of them dropped). Every other handler of
// an addressed topic binds with "#" and still sees every event.
//
// On RabbitMQ an addressed topic has a topic exchange of its own, "<topic>.addressed": the
// fanout exchange "<topic>" of earlier versions cannot change type in place, and a durable
// queue bound to both receives from the new one only. In process the same rule picks the
// queues a message goes to.
//
//   - ExecutionScheduled goes to the worker it places the execution on.
//   - ExecutionStatusChanged to canceling goes to the worker running the execution (the
//     transition names it: execution.Execution.Transition); every other status change, and a
//     canceling one that names no worker (a workflow's), is unaddressed: no worker gets it.
//
// A message addressed to a worker whose queue is gone (the worker died and its queue expired)
// is dropped by the broker. Nothing is lost by that: the log still says the execution is
// scheduled (or canceling) there, and once the worker is declared lost the reaper places again
// what it never started and abandons what it ran (execution.Execution.WorkerLeft).
const (
	// AddressedSuffix ends the exchange name of an addressed topic.
	AddressedSuffix = ".addressed"
	// Unaddressed is the routing key of an event on an addressed topic meant for no one in
	// particular: only the handlers that bind "#" receive it.
	Unaddressed = "unaddressed"
	// everything is the binding of a handler that receives every event of an addressed topic.
	everything = "#"
)

// WorkerKey is the routing key of the messages addressed to one worker: what a worker binds
// its queues with (Router.AddAddressedHandler).
func WorkerKey(workerID string) string { return "worker." + workerID }

// Addressed reports whether topic is an addressed topic.
func Addressed(topic string) bool {
	switch topic {
	case execution.ExecutionScheduled{}.EventType(), execution.ExecutionStatusChanged{}.EventType():
		return true
	}
	return false
}

// RoutingKey is the routing key e is published with: "" on a topic that is not addressed,
// WorkerKey of its worker for an event addressed to one, Unaddressed otherwise. An event that
// cannot be decoded is unaddressed (the handlers that take every event poison it). Bus.Publish
// passes e Shared, so the decode here is the one its handlers in the process get.
func RoutingKey(e eventstore.Recorded) string {
	if !Addressed(Topic(e)) {
		return ""
	}
	payload, err := e.Decode()
	if err != nil {
		return Unaddressed
	}
	switch p := payload.(type) {
	case *execution.ExecutionScheduled:
		if p.WorkerID != "" {
			return WorkerKey(p.WorkerID)
		}
	case *execution.ExecutionStatusChanged:
		if p.To == execution.Canceling && p.WorkerID != "" {
			return WorkerKey(p.WorkerID)
		}
	}
	return Unaddressed
}

// routeSep joins a topic and a routing key into the one string watermill's AMQP publisher
// takes: it derives the exchange and the routing key from the topic alone
// (Publish.GenerateRoutingKey has no message). Neither topics nor keys contain a space.
const routeSep = " "

func routed(topic, key string) string {
	if key == "" {
		return topic
	}
	return topic + routeSep + key
}

func splitRoute(s string) (topic, key string) {
	topic, key, _ = strings.Cut(s, routeSep)
	return topic, key
}

// AddAddressedHandler is AddTransientHandler for a handler that receives only the events of
// an addressed topic addressed to key (WorkerKey): a worker's. It panics if eventType is not
// addressed, a wiring mistake that would otherwise leave the handler without messages.
func (r *Router) AddAddressedHandler(name, eventType, key string, idle time.Duration, h HandlerFunc) {
	switch {
	case !Addressed(eventType):
		panic(fmt.Sprintf("bus: addressed handler %q: %s is not an addressed topic", name, eventType))
	case key == "" || key == everything || key == Unaddressed || strings.ContainsAny(key, routeSep+"*#"):
		panic(fmt.Sprintf("bus: addressed handler %q: routing key %q", name, key))
	case idle < time.Millisecond:
		panic(fmt.Sprintf("bus: addressed handler %q: idle expiry %s, want at least 1ms", name, idle))
	}
	r.addHandler(name, eventType, h, func(handler, eventType string) (message.Subscriber, error) {
		return r.bus.newSubscriber(handler, eventType, key, idle)
	})
}

// binding is the key a handler's queue is bound with when it takes every event of its topic.
func binding(topic string) string {
	if Addressed(topic) {
		return everything
	}
	return ""
}

// newSubscriber returns what one handler consumes from: on RabbitMQ its own queue, bound to
// its topic's exchange with key (every event: "" on a fanout exchange, "#" on an addressed
// one), expiring after idle without a consumer if idle > 0.
func (b *Bus) newSubscriber(handler, eventType, key string, idle time.Duration) (message.Subscriber, error) {
	if b.local != nil {
		return b.local.subscriber(handler, eventType, key), nil
	}
	b.declared(b.ExchangeName(eventType), b.QueueName(eventType, handler))
	cfg := b.amqpConfig(func(topic string) string { return b.QueueName(topic, handler) })
	cfg.QueueBind.GenerateRoutingKey = func(string) string { return key }
	if idle > 0 {
		cfg.Queue.Arguments = amqp091.Table{"x-expires": idle.Milliseconds()}
	}
	return amqp.NewSubscriberWithConnection(cfg, b.wlog, b.subConn)
}

// topology declares each exchange with the type its name calls for: a topic exchange for an
// addressed topic, fanout for every other.
type topology struct{ amqp.DefaultTopologyBuilder }

func (t *topology) ExchangeDeclare(ch *amqp091.Channel, name string, cfg amqp.Config) error {
	if strings.HasSuffix(name, AddressedSuffix) {
		cfg.Exchange.Type = amqp091.ExchangeTopic
	}
	if err := t.DefaultTopologyBuilder.ExchangeDeclare(ch, name, cfg); err != nil {
		return fmt.Errorf("declare %s exchange %s: %w", cfg.Exchange.Type, name, err)
	}
	return nil
}

// BuildTopology declares the queue, the exchange (through ExchangeDeclare above: the default
// builder calls its own) and the binding.
func (t *topology) BuildTopology(ch *amqp091.Channel, queue, exchange string, cfg amqp.Config, log watermill.LoggerAdapter) error {
	if strings.HasSuffix(exchange, AddressedSuffix) {
		cfg.Exchange.Type = amqp091.ExchangeTopic
	}
	return t.DefaultTopologyBuilder.BuildTopology(ch, queue, exchange, cfg, log)
}
