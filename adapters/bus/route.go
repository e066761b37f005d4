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
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
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
//     An unaddressed status change says what it is in its key,
//     "unaddressed.<to>.<from>.<task|top|unknown>" (StatusKey: the new status, the old one,
//     and whether the execution is a workflow's task, a top-level one, or the event does not
//     say), so a handler that acts on some changes only binds those (Router.AddStatusHandler)
//     and the broker does not store, deliver and take back the acks of the rest: a no-op
//     execution's two changes (running, completed) reach 1 queue instead of 10.
//   - ExecutionRequested is addressed to no worker but says in its key who runs the execution
//     (RequestedKey): "requested.workflow" (runner type workflow: the workflow engine),
//     "requested.ask" (core.ask: the inquiry engine), "requested.action" (any other: the
//     scheduler places it on a worker). Its three handlers each bind their kind
//     (Router.AddKeyedHandler), so a plain execution's request reaches the scheduler's queue
//     only, not three. The scheduler leaves workflows and core.ask alone (on delivery and on
//     the reaper's Retry, which reads the log, not the bus), so it binds requested.action
//     only. A request that cannot be classified (it does not decode, or is both a workflow
//     and core.ask) is Unaddressed, which every keyed handler binds.
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
	case execution.ExecutionScheduled{}.EventType(), execution.ExecutionStatusChanged{}.EventType(),
		execution.ExecutionRequested{}.EventType():
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
	case *execution.ExecutionRequested:
		return RequestedKey(p)
	case *execution.ExecutionScheduled:
		if p.WorkerID != "" {
			return WorkerKey(p.WorkerID)
		}
	case *execution.ExecutionStatusChanged:
		if p.To == execution.Canceling && p.WorkerID != "" {
			return WorkerKey(p.WorkerID)
		}
		if word(string(p.To)) {
			return StatusKey(p)
		}
	}
	return Unaddressed
}

// The routing keys of ExecutionRequested: who runs the execution (RequestedKey).
const (
	RequestedAction   = "requested.action"   // a worker, placed by the scheduler
	RequestedWorkflow = "requested.workflow" // the workflow engine (runner type workflow)
	RequestedAsk      = "requested.ask"      // the inquiry engine (core.ask)
)

// RequestedKey is the routing key of an ExecutionRequested: RequestedWorkflow,
// RequestedAsk or RequestedAction by the engine that runs it, decided as those engines
// decide (the workflow engine and the scheduler on the runner type as requested, the inquiry
// engine and the scheduler on the action); Unaddressed for one that is both a workflow and
// core.ask, which every handler of requests binds.
func RequestedKey(r *execution.ExecutionRequested) string {
	flow, ask := pack.RunnerType(r.RunnerType) == pack.RunnerWorkflow, r.Action == inquiry.AskAction
	switch {
	case flow && ask:
		return Unaddressed
	case flow:
		return RequestedWorkflow
	case ask:
		return RequestedAsk
	}
	return RequestedAction
}

// StatusKey is the routing key of an unaddressed ExecutionStatusChanged:
// "unaddressed.<to>.<from>.<task|top|unknown>".
func StatusKey(c *execution.ExecutionStatusChanged) string {
	from := string(c.From)
	if !word(from) {
		from = "unknown"
	}
	parent := "unknown"
	if id, known := c.Parent(); known && id != "" {
		parent = "task"
	} else if known {
		parent = "top"
	}
	return strings.Join([]string{Unaddressed, string(c.To), from, parent}, ".")
}

// word reports whether s can be one word of a routing key.
func word(s string) bool { return s != "" && !strings.ContainsAny(s, ".*# ") }

// StatusKeys are the bindings that take every change to one of statuses; for canceling also
// every change addressed to a worker (those are all to canceling). Every handler's bindings
// start with Unaddressed itself (see AddStatusHandler).
func StatusKeys(statuses ...execution.Status) []string {
	var keys []string
	for _, s := range statuses {
		keys = append(keys, Unaddressed+"."+string(s)+".#")
		if s == execution.Canceling {
			keys = append(keys, "worker.#")
		}
	}
	return keys
}

// FromKeys are the bindings that take every unaddressed change from one of statuses.
func FromKeys(statuses ...execution.Status) []string {
	var keys []string
	for _, s := range statuses {
		keys = append(keys, Unaddressed+".*."+string(s)+".#")
	}
	return keys
}

// TaskKeys are the bindings that take every unaddressed change to one of statuses of an
// execution that is a workflow's task, or may be one (the event does not say).
func TaskKeys(statuses ...execution.Status) []string {
	var keys []string
	for _, s := range statuses {
		keys = append(keys, Unaddressed+"."+string(s)+".*.task", Unaddressed+"."+string(s)+".*.unknown")
	}
	return keys
}

// Ends are the terminal statuses.
func Ends() []execution.Status {
	var ends []execution.Status
	for _, s := range execution.Statuses {
		if s.Terminal() {
			ends = append(ends, s)
		}
	}
	return ends
}

// AddStatusHandler is AddHandler for a handler of ExecutionStatusChanged that acts only on
// some changes (and ignores the others itself too): its queue is bound with keys (StatusKeys,
// FromKeys, TaskKeys) instead of taking every change, and with Unaddressed, which an event
// that cannot be decoded is published with, as is every status change by a version before
// StatusKey. A queue an earlier version bound to every change loses that binding.
func (r *Router) AddStatusHandler(name string, keys []string, h HandlerFunc) {
	r.AddKeyedHandler(name, execution.ExecutionStatusChanged{}.EventType(), keys, h)
}

// AddKeyedHandler is AddHandler for a handler of an addressed topic that acts only on the
// events whose routing keys match keys (and ignores the others itself too): its queue is
// bound with keys and with Unaddressed, which an event that cannot be decoded or classified
// is published with. A queue an earlier version bound to every event of the topic loses that
// binding. It panics if eventType is not addressed or keys is empty, wiring mistakes.
func (r *Router) AddKeyedHandler(name, eventType string, keys []string, h HandlerFunc) {
	switch {
	case !Addressed(eventType):
		panic(fmt.Sprintf("bus: keyed handler %q: %s is not an addressed topic", name, eventType))
	case len(keys) == 0:
		panic(fmt.Sprintf("bus: keyed handler %q: no keys", name))
	}
	r.addHandler(name, eventType, StatusBindings(keys), 0, h)
}

// StatusBindings are what the queue of a keyed handler with keys is bound with: keys and
// Unaddressed (AddKeyedHandler, AddStatusHandler).
func StatusBindings(keys []string) []string { return append([]string{Unaddressed}, keys...) }

// Matches reports whether a routing key matches a binding, as a RabbitMQ topic exchange
// decides: words separated by '.', '*' stands for one word, '#' for zero or more; "" (a
// fanout binding) matches every key.
func Matches(binding, key string) bool {
	if binding == "" || binding == everything {
		return true
	}
	return matchWords(strings.Split(binding, "."), strings.Split(key, "."))
}

func matchWords(pattern, words []string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case "#":
			for i := 0; i <= len(words); i++ {
				if matchWords(pattern[1:], words[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(words) == 0 {
				return false
			}
		default:
			if len(words) == 0 || words[0] != pattern[0] {
				return false
			}
		}
		pattern, words = pattern[1:], words[1:]
	}
	return len(words) == 0
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
	r.addHandler(name, eventType, []string{key}, idle, h)
}

// binding is the key a handler's queue is bound with when it takes every event of its topic.
func binding(topic string) string {
	if Addressed(topic) {
		return everything
	}
	return ""
}

// newSubscriber returns what one handler consumes from: on RabbitMQ its own queue, bound to
// its topic's exchange with keys (every event: "" on a fanout exchange, "#" on an addressed
// one), expiring after idle without a consumer if idle > 0.
func (b *Bus) newSubscriber(handler, eventType string, keys []string, idle time.Duration) (message.Subscriber, error) {
	if b.local != nil {
		return b.local.subscriber(handler, eventType, keys), nil
	}
	b.declared(b.ExchangeName(eventType), b.QueueName(eventType, handler))
	cfg := b.amqpConfig(func(topic string) string { return b.QueueName(topic, handler) })
	cfg.QueueBind.GenerateRoutingKey = func(string) string { return keys[0] }
	if len(keys) > 1 {
		cfg.TopologyBuilder = &topology{more: keys[1:]}
	}
	if idle > 0 {
		cfg.Queue.Arguments = amqp091.Table{"x-expires": idle.Milliseconds()}
	}
	return amqp.NewSubscriberWithConnection(cfg, b.wlog, b.subConn)
}

// topology declares each exchange with the type its name calls for: a topic exchange for an
// addressed topic, fanout for every other.
// more are the bindings of a queue beyond its first (QueueBind.GenerateRoutingKey): a queue
// bound with several keys is one that takes only some events of its topic, so it also loses
// the binding to every event that an earlier version may have given it.
type topology struct {
	amqp.DefaultTopologyBuilder
	more []string
}

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
	if err := t.DefaultTopologyBuilder.BuildTopology(ch, queue, exchange, cfg, log); err != nil {
		return err
	}
	if len(t.more) == 0 {
		return nil
	}
	for _, key := range t.more {
		if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s to %s with %q: %w", queue, exchange, key, err)
		}
	}
	if err := ch.QueueUnbind(queue, everything, exchange, nil); err != nil {
		return fmt.Errorf("unbind queue %s from every event of %s: %w", queue, exchange, err)
	}
	return nil
}
