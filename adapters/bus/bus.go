// Package bus carries recorded events from the relay to the handlers over watermill: an
// in-process gochannel by default, RabbitMQ when an AMQP URL is configured (design §3).
//
// Topology on RabbitMQ: one durable fanout exchange per topic (the event's wire type) and one
// durable queue per handler name, "<topic>.<handler>", bound to it. Every handler therefore
// sees every event of its type, and handlers of different types or purposes never compete for
// one queue. Three topics are addressed instead (route.go): a topic exchange
// "<topic>.addressed" and a routing key per event, a worker's queue bound with its own key, so
// one placement reaches one worker, and handlers that act on some events only bound with
// theirs (status changes, requests by who runs them). Messages that keep failing go to the poison topic, whose durable queue keeps them
// for an operator.
//
// Wiring, in a role's composition root:
//
//	b, err := bus.New(ctx, bus.Config{AMQPURL: amqpURL, Logger: log})
//	r := b.NewRouter()
//	canceler.Register(r, store)   // … every handler of the role
//	err = r.Start(ctx)            // subscribes; on RabbitMQ declares the queues
//	rl, err := relay.New(relay.Config{Store: store, Checkpoints: cps, Publisher: b, Logger: log})
//	err = postgres.Lead(ctx, pool, relay.Name, rl.Run)
//
// Start routers before the relay (or Router.Declare the queues of handlers that run in other
// processes): a fanout exchange drops what no queue is bound to yet. Stop in reverse order:
// the relay, the routers, then the bus.
package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/attune-go/attune/adapters/eventstore"
)

// PoisonTopic receives every message a handler failed on after its retries, with the reason
// in the metadata key "reason_poisoned" (and the handler in "handler_poisoned").
const PoisonTopic = "attune.poison"

// Config configures a Bus. Only Logger is needed for the in-process bus.
type Config struct {
	// AMQPURL selects RabbitMQ (amqp://user:pass@host:5672/); empty means the in-process bus.
	AMQPURL string
	Logger  *slog.Logger
	// Prefix is put before every exchange and queue name, so several deployments (or parallel
	// tests) can share one broker without seeing each other's messages.
	Prefix string
	// ChannelPoolSize is the number of AMQP channels kept open for publishing; defaults to 8.
	// Without a pool watermill opens a channel per publish, about 100 times slower.
	ChannelPoolSize int
	// Retry bounds the attempts a handler gets before its message is poisoned.
	Retry Retry
	// CloseTimeout is how long Router.Close waits for handlers in flight; defaults to 30s.
	CloseTimeout time.Duration
	// Consumers is how many messages each handler works on at once; defaults to 8. Handlers
	// decide from the log with expected versions, so they need no order between messages.
	Consumers int
	// QueueExpiry, when set, has RabbitMQ delete each queue this bus declares once it has
	// had no consumer for that long (x-expires): for throw-away deployments and tests, whose
	// prefixes would otherwise pile up on the broker. Zero keeps queues until deleted, as a
	// deployment wants: messages wait for their handler however long it is down.
	QueueExpiry time.Duration
	// Transient, when set, tells a failure of a dependency that is away for a while (the
	// database: postgres.IsTransient) from a failure of the message: such a message is
	// retried, with backoff, for as long as the outage lasts and never poisoned.
	Transient func(error) bool
	// Instrument, when set, wraps every handler the routers of this bus run (metrics): it is
	// called once per handler as it is added, and the function it returns sees every attempt.
	Instrument func(handler string, h HandlerFunc) HandlerFunc
	// OnlyConsumed, on RabbitMQ, has Publish send only the events that some handler binds:
	// one on a router of this bus, or one named with Bus.Consumes (a handler of another
	// process). Set it where every handler of the deployment is known so (the relay's
	// process); an event nothing binds is dropped by the broker anyway (consumed.go). In
	// process the bus always does so.
	OnlyConsumed bool
	// Deliveries, when set, is called once per handler as it is added; the function it
	// returns is called for every message the handler's queue hands it, before any retry (a
	// retry of the same delivery does not count again, a redelivery by the broker does):
	// attune_bus_deliveries_total.
	Deliveries func(handler string) func()
}

// Retry is the exponential backoff between the attempts of a failing handler.
type Retry struct {
	MaxRetries      int           // attempts after the first; defaults to 5
	InitialInterval time.Duration // defaults to 100ms
	MaxInterval     time.Duration // defaults to 5s
	Multiplier      float64       // defaults to 2
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.ChannelPoolSize = cmp.Or(c.ChannelPoolSize, 8)
	c.Consumers = cmp.Or(c.Consumers, 8)
	c.Retry.MaxRetries = cmp.Or(c.Retry.MaxRetries, 5)
	c.Retry.InitialInterval = cmp.Or(c.Retry.InitialInterval, 100*time.Millisecond)
	c.Retry.MaxInterval = cmp.Or(c.Retry.MaxInterval, 5*time.Second)
	c.Retry.Multiplier = cmp.Or(c.Retry.Multiplier, 2)
	c.CloseTimeout = cmp.Or(c.CloseTimeout, 30*time.Second)
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Consumers < 0 {
		errs = append(errs, fmt.Errorf("consumers %d, want >= 0 (0: default)", c.Consumers))
	}
	if c.ChannelPoolSize < 0 {
		errs = append(errs, fmt.Errorf("channel pool size %d, want >= 0", c.ChannelPoolSize))
	}
	if c.Retry.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max retries %d, want >= 0", c.Retry.MaxRetries))
	}
	if c.Retry.Multiplier != 0 && c.Retry.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("retry multiplier %g, want >= 1", c.Retry.Multiplier))
	}
	return errors.Join(errs...)
}

// Bus publishes recorded events and hands them to routers.
type Bus struct {
	cfg  Config
	log  *slog.Logger
	wlog watermill.LoggerAdapter

	pub message.Publisher
	// amqpPub is pub on RabbitMQ: it sends a Publish's events as one batch.
	amqpPub *publisher
	// decoded shares one decode of an event among the handlers of this process.
	decoded *decoded

	// In-process only.
	local *local
	gate  *gate

	// RabbitMQ only: one connection shared by every subscriber, apart from the publisher's,
	// so broker flow control on publishing never stalls consuming.
	subConn *amqp.ConnectionWrapper

	mu        sync.Mutex
	exchanges map[string]struct{}
	queues    map[string]struct{}
	consumed  map[string][]string // topic → the bindings of its handlers' queues (consumed.go)
	sent      map[string]bool     // routed(topic, key) → whether a binding matches: sends' memo
}

// New connects the bus. On RabbitMQ it also declares the poison queue, so that no poisoned
// message is dropped for want of a queue.
func New(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bus config: %w", err)
	}
	cfg = cfg.withDefaults()
	b := &Bus{
		cfg: cfg,
		log: cfg.Logger,
		// watermill logs routine steps at Info; they are debug detail here.
		// Its errors repeat by the hundred while the broker is away: see quietErrors.
		wlog: newQuietErrors(watermill.NewSlogLoggerWithLevelMapping(cfg.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})),

		exchanges: map[string]struct{}{},
		queues:    map[string]struct{}{},
		consumed:  map[string][]string{},
		sent:      map[string]bool{},
		decoded:   newDecoded(),
	}
	if cfg.AMQPURL == "" {
		// Publish returns only once every handler has acked (see local).
		b.local = newLocal()
		b.pub = b.local
		b.gate = &gate{}
		return b, nil
	}
	if err := b.connectAMQP(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bus) connectAMQP(ctx context.Context) error {
	pubCfg := b.amqpConfig(nil)
	pub, err := newPublisher(pubCfg, b.cfg.ChannelPoolSize, b.wlog)
	if err != nil {
		return fmt.Errorf("connect AMQP publisher to %s: %w", redact(b.cfg.AMQPURL), err)
	}
	conn, err := amqp.NewConnection(pubCfg.Connection, b.wlog)
	if err != nil {
		_ = pub.Close()
		return fmt.Errorf("connect AMQP subscribers to %s: %w", redact(b.cfg.AMQPURL), err)
	}
	b.pub, b.amqpPub, b.subConn = pub, pub, conn

	b.declared(b.ExchangeName(PoisonTopic), b.PoisonQueueName())
	sub, err := b.poisonSubscriber()
	if err == nil {
		err = sub.SubscribeInitialize(PoisonTopic)
		_ = sub.Close()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = b.Close()
		return fmt.Errorf("declare poison queue %s: %w", b.PoisonQueueName(), err)
	}
	return nil
}

// amqpConfig is the durable pub/sub layout with a per-handler queue name.
func (b *Bus) amqpConfig(queueName amqp.QueueNameGenerator) amqp.Config {
	c := amqp.NewDurablePubSubConfig(b.cfg.AMQPURL, queueName)
	// A publish names its routing key with the topic (routed): see route.go.
	c.Exchange.GenerateName = func(t string) string {
		topic, _ := splitRoute(t)
		return b.ExchangeName(topic)
	}
	c.Publish.GenerateRoutingKey = func(t string) string {
		_, key := splitRoute(t)
		return key
	}
	c.TopologyBuilder = &topology{}
	c.Publish.ChannelPoolSize = b.cfg.ChannelPoolSize
	// The relay checkpoints after Publish returns; with confirms that means the broker has
	// the message in every bound durable queue.
	c.Publish.ConfirmDelivery = true
	c.Marshaler = marshaler{}
	if b.cfg.QueueExpiry > 0 {
		c.Queue.Arguments = amqp091.Table{"x-expires": b.cfg.QueueExpiry.Milliseconds()}
	}
	return c
}

func (b *Bus) poisonSubscriber() (*amqp.Subscriber, error) {
	cfg := b.amqpConfig(func(string) string { return b.PoisonQueueName() })
	return amqp.NewSubscriberWithConnection(cfg, b.wlog, b.subConn)
}

// ExchangeName is the RabbitMQ exchange of a topic: a fanout exchange named after it, or for
// an addressed topic a topic exchange "<topic>.addressed" (route.go).
func (b *Bus) ExchangeName(topic string) string {
	if Addressed(topic) {
		return b.cfg.Prefix + topic + AddressedSuffix
	}
	return b.cfg.Prefix + topic
}

// QueueName is the RabbitMQ queue of one handler: handler names are persisted identifiers,
// renaming one abandons its queue.
func (b *Bus) QueueName(topic, handler string) string { return b.cfg.Prefix + topic + "." + handler }

// PoisonQueueName is the RabbitMQ queue that keeps poisoned messages.
func (b *Bus) PoisonQueueName() string { return b.cfg.Prefix + PoisonTopic }

// Publish sends each event to the topic of its type and returns once all are confirmed: by
// the broker on RabbitMQ, by every subscribed handler in process. Events may be sent
// concurrently by several callers.
//
// On RabbitMQ the events go out together, on one channel, before the first confirm is awaited
// (publish.go); if any is not confirmed the call fails and the caller publishes them all
// again. In process they are handed over one after another, each once its handlers are done.
func (b *Bus) Publish(ctx context.Context, events ...eventstore.Recorded) error {
	var batch []outgoing
	if b.local == nil {
		batch = make([]outgoing, 0, len(events))
	}
	for _, e := range events {
		e = e.Shared() // decoded at most once here, to route it, and by its handlers here
		topic, key := Topic(e), RoutingKey(e)
		if !b.sends(topic, key) {
			continue // no queue would take it (consumed.go)
		}
		msg, err := NewMessage(e)
		if err != nil {
			return err
		}
		msg.SetContext(ctx)
		b.decoded.seed(e, len(msg.Payload))
		if b.local == nil {
			exchange := b.ExchangeName(topic)
			b.declared(exchange, "")
			batch = append(batch, outgoing{exchange: exchange, key: key, msg: msg})
			continue
		}
		if err := b.publishLocal(topic, key, msg); err != nil {
			return fmt.Errorf("publish event %s (%s %s@%d): %w", e.ID, e.Type, e.StreamID, e.StreamVersion, err)
		}
	}
	if len(batch) == 0 {
		return nil
	}
	if err := b.amqpPub.send(ctx, batch); err != nil {
		first := events[0]
		return fmt.Errorf("publish %d events (from %s, %s %s@%d): %w", len(events), first.ID, first.Type, first.StreamID, first.StreamVersion, err)
	}
	return nil
}

func (b *Bus) publishLocal(topic, key string, msg *message.Message) error {
	epoch, err := b.gate.ready()
	if err != nil {
		return err
	}
	if err := b.pub.Publish(routed(topic, key), msg); err != nil {
		return err
	}
	// If a router began to stop meanwhile, claim nothing, so the relay publishes again later.
	if !b.gate.unchanged(epoch) {
		return errRouterStopped
	}
	return nil
}

// Connected reports whether the bus can carry messages now: on RabbitMQ, whether both the
// publishing and the consuming connections are up (watermill reconnects them on its own);
// the in-process bus is always connected.
func (b *Bus) Connected() bool {
	if b.local != nil {
		return true
	}
	return b.amqpPub.Connected() && b.subConn.IsConnected()
}

// Poisoned subscribes to the poison queue: every message there has failed its handler after
// all retries. The caller acks what it has dealt with; the subscription ends with ctx.
func (b *Bus) Poisoned(ctx context.Context) (<-chan *message.Message, error) {
	if b.local != nil {
		msgs, err := b.local.subscriber("reader-"+watermill.NewULID(), PoisonTopic, []string{""}).Subscribe(ctx, PoisonTopic)
		if err != nil {
			return nil, fmt.Errorf("subscribe to %s: %w", PoisonTopic, err)
		}
		return msgs, nil
	}
	sub, err := b.poisonSubscriber()
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", b.PoisonQueueName(), err)
	}
	msgs, err := sub.Subscribe(ctx, PoisonTopic)
	if err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", b.PoisonQueueName(), err)
	}
	go func() {
		<-ctx.Done()
		_ = sub.Close()
	}()
	return msgs, nil
}

// Close disconnects the bus. Close routers and stop the relay first.
func (b *Bus) Close() error {
	var errs []error
	if b.pub != nil {
		if err := b.pub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close publisher: %w", err))
		}
	}
	if b.subConn != nil {
		if err := b.subConn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close subscriber connection: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Topology lists the exchanges and queues this bus has declared (or may have) on RabbitMQ,
// sorted: what an operator or a test cleans up. It is empty in process.
func (b *Bus) Topology() (exchanges, queues []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.exchanges)), slices.Sorted(maps.Keys(b.queues))
}

func (b *Bus) declared(exchange, queue string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.exchanges[exchange] = struct{}{}
	if queue != "" {
		b.queues[queue] = struct{}{}
	}
}

var (
	errNotRunning    = errors.New("in-process bus: a router is not running, its handlers would miss the event")
	errRouterStopped = errors.New("in-process bus: a router stopped during the publish, delivery is not certain")
)

// gate tracks the routers of an in-process bus. With no broker to hold messages, an event
// published while a router is not running would be lost to its handlers, so Publish refuses
// until every router made on the bus runs.
type gate struct {
	mu      sync.Mutex
	routers int    // made on the bus
	running int    // of those, running
	epoch   uint64 // bumped whenever a router stops
}

func (g *gate) add() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.routers++
}

func (g *gate) started() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running++
}

// stopped keeps the router counted: once it is closed the in-process bus accepts no more
// events, which is what stops a relay that outlives the handlers from losing events.
func (g *gate) stopped(wasRunning bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if wasRunning {
		g.running--
	}
	g.epoch++
}

func (g *gate) ready() (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running < g.routers {
		return 0, errNotRunning
	}
	return g.epoch, nil
}

func (g *gate) unchanged(epoch uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch == epoch
}
