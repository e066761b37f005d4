package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
)

// brokerChannel is a channel of the test's own on the broker, outside any bus, closed with
// its connection when the test ends.
func brokerChannel(t *testing.T) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(bustest.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// queueExists asks the broker whether a queue is declared.
func queueExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := brokerChannel(t).QueueDeclarePassive(name, true, false, false, false, nil)
	var amqpErr *amqp091.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp091.NotFound {
		return false
	}
	if err != nil {
		t.Fatalf("inspect queue %s: %v", name, err)
	}
	return true
}

func TestTransientHandlerQueueGoesAwayWithItsProcess(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.RabbitMQ)
	c := bustest.NewCollector()
	r := b.NewRouter()
	r.AddTransientHandler("worker.w1", "ExecutionScheduled", 300*time.Millisecond, c.Handler("worker"))
	r.AddHandler("scheduler", "ExecutionScheduled", c.Handler("durable"))
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	transient, durable := b.QueueName("ExecutionScheduled", "worker.w1"), b.QueueName("ExecutionScheduled", "scheduler")

	// While its process lives, the transient queue gets the events of its type like any other.
	e := record(t, scheduled("x1"))[0]
	if err := b.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	c.WaitUntil(t, waitLong, "both handlers to receive the event", func() bool {
		return len(c.Got("worker")) == 1 && len(c.Got("durable")) == 1
	})

	// The process goes: its queue expires, the durable one stays for the next process.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	for queueExists(t, transient) {
		if time.Now().After(deadline) {
			t.Fatalf("queue %s still exists %s after its consumer left", transient, waitLong)
		}
		// Polling the broker; a passive declare renews a queue's lease, so ask less often than
		// the expiry.
		time.Sleep(time.Second)
	}
	if !queueExists(t, durable) {
		t.Fatalf("durable queue %s went away with its consumer", durable)
	}
}

func TestTransientHandlerNeedsAnExpiry(t *testing.T) {
	t.Parallel()
	r := bustest.New(t, bustest.InProcess).NewRouter()
	defer func() {
		if recover() == nil {
			t.Fatal("AddTransientHandler with no expiry did not panic")
		}
	}()
	r.AddTransientHandler("worker.w1", "ExecutionScheduled", 0, func(context.Context, eventstore.Recorded) error { return nil })
}
