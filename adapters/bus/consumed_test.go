package bus_test

import (
	"context"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/domain/execution"
)

// spyQueue binds a queue of the test's own, outside the bus, to every event of topic's
// exchange: what it holds after a Publish returned is what the bus sent (a sent message is
// confirmed only once the broker holds it in every bound queue).
func spyQueue(t *testing.T, b *bus.Bus, topic string) string {
	t.Helper()
	ch := brokerChannel(t)
	exchange, queue := b.ExchangeName(topic), b.QueueName(topic, "spy")
	if err := ch.ExchangeDeclare(exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The bus's own cleanup may have deleted the exchange already: nothing to report.
		_, _ = ch.QueueDelete(queue, false, false, false)
		_ = ch.ExchangeDelete(exchange, false, false)
	})
	return queue
}

func statusChange(id string, from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

// With OnlyConsumed, an event that no handler binds is not sent; once a handler that binds
// it is added (here, or in another process and named with Consumes), it is. Without it,
// everything is sent, whoever listens.
func TestOnlyWhatSomeHandlerBindsIsSent(t *testing.T) {
	t.Parallel()
	topic := execution.ExecutionStatusChanged{}.EventType()
	ctx := context.Background()
	events := record(t,
		statusChange("a", execution.Scheduled, execution.Running),
		statusChange("b", execution.Scheduled, execution.Running),
		statusChange("c", execution.Running, execution.Completed),
		statusChange("d", execution.Running, execution.Completed),
	)

	t.Run("not asked", func(t *testing.T) {
		t.Parallel()
		b := bustest.New(t, bustest.RabbitMQ)
		spy := spyQueue(t, b, topic)
		if err := b.Publish(ctx, events[0]); err != nil {
			t.Fatal(err)
		}
		if n := bustest.QueueDepth(t, spy); n != 1 {
			t.Fatalf("a bus without OnlyConsumed sent %d events nobody it knows binds, want 1", n)
		}
	})

	t.Run("a handler of this bus", func(t *testing.T) {
		t.Parallel()
		b := bustest.NewWith(t, bustest.RabbitMQ, func(c *bus.Config) { c.OnlyConsumed = true })
		spy := spyQueue(t, b, topic)
		if err := b.Publish(ctx, events[0]); err != nil {
			t.Fatal(err)
		}
		if n := bustest.QueueDepth(t, spy); n != 0 {
			t.Fatalf("a change to running, which no handler binds, was sent (%d in the spy queue)", n)
		}

		c := bustest.NewCollector()
		r := b.NewRouter()
		r.AddStatusHandler("on-running", bus.StatusKeys(execution.Running), c.Handler("on-running"))
		startRouter(t, r)
		if err := b.Publish(ctx, events[1], events[2]); err != nil {
			t.Fatal(err)
		}
		if n := bustest.QueueDepth(t, spy); n != 1 {
			t.Fatalf("the spy queue holds %d events, want the change to running only (1)", n)
		}
		c.WaitUntil(t, waitLong, "the new handler to get the change to running", func() bool {
			n, _ := c.Distinct("on-running")
			return n == 1
		})
	})

	t.Run("named with Consumes", func(t *testing.T) {
		t.Parallel()
		b := bustest.NewWith(t, bustest.RabbitMQ, func(c *bus.Config) { c.OnlyConsumed = true })
		spy := spyQueue(t, b, topic)
		b.Consumes(topic, bus.StatusKeys(execution.Completed)...)
		if err := b.Publish(ctx, events...); err != nil {
			t.Fatal(err)
		}
		if n := bustest.QueueDepth(t, spy); n != 2 {
			t.Fatalf("the spy queue holds %d events, want the two changes to completed", n)
		}
	})

	t.Run("in process", func(t *testing.T) {
		t.Parallel()
		b := bustest.New(t, bustest.InProcess)
		c := bustest.NewCollector()
		r := b.NewRouter()
		r.AddStatusHandler("on-completed", bus.StatusKeys(execution.Completed), c.Handler("on-completed"))
		startRouter(t, r)
		if err := b.Publish(ctx, events...); err != nil {
			t.Fatal(err)
		}
		if got := c.Got("on-completed"); len(got) != 2 {
			t.Fatalf("the handler got %d events, want the two changes to completed", len(got))
		}
	})
}
