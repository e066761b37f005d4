package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/domain/event"
)

// A Publish on RabbitMQ sends all its messages before it awaits their confirms: when it
// returns, the broker holds every one of them in the handler's durable queue — from one
// call of many events, and from many calls at once sharing the pool of channels.
func TestARabbitMQPublishReturnsOnceTheBrokerHoldsEveryMessage(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.RabbitMQ)
	r := b.NewRouter()
	r.AddHandler("held", "ExecutionRequested", bustest.NewCollector().Handler("held"))
	if err := r.Declare(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	payloads := make([]event.Event, 640)
	for i := range payloads {
		payloads[i] = requested(fmt.Sprint(i))
	}
	events := record(t, payloads...)
	queue := b.QueueName("ExecutionRequested", "held")

	if err := b.Publish(context.Background(), events[:300]...); err != nil {
		t.Fatal(err)
	}
	if n := bustest.QueueDepth(t, queue); n != 300 {
		t.Fatalf("after one Publish of 300 events the queue holds %d, want 300", n)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 34)
	for i := 300; i < len(events); i += 10 { // 34 calls, more than the 8 channels
		wg.Go(func() { errs <- b.Publish(context.Background(), events[i:i+10]...) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := bustest.QueueDepth(t, queue); n != len(events) {
		t.Fatalf("after 34 concurrent Publishes the queue holds %d, want %d", n, len(events))
	}
}

// A channel the broker closes (here: the exchange was deleted under the bus, so the broker
// refuses the publish) fails the Publish, and the next one opens a fresh channel and declares
// the exchange again instead of failing for ever.
func TestAPublishTheBrokerRefusedSucceedsWhenRepeated(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.RabbitMQ)
	events := record(t, requested("a"), requested("b"))
	ctx := context.Background()
	if err := b.Publish(ctx, events[0]); err != nil {
		t.Fatal(err)
	}
	exchange := b.ExchangeName("ExecutionRequested")
	if err := brokerChannel(t).ExchangeDelete(exchange, false, false); err != nil {
		t.Fatal(err)
	}

	if err := b.Publish(ctx, events...); err == nil {
		t.Fatal("a Publish to a deleted exchange succeeded; the broker refuses those")
	}
	if err := b.Publish(ctx, events...); err != nil {
		t.Fatalf("the Publish after the refusal: %v", err)
	}
	if err := brokerChannel(t).ExchangeDeclarePassive(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatalf("exchange %s not declared again: %v", exchange, err)
	}
}
