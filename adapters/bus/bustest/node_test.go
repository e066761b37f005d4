package bustest_test

import (
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/attune-go/attune/adapters/bus/bustest"
)

// The private node can be crashed and started again, and serves after the restart: what the
// fault tests rely on. (Whether a queue declared just before a crash survives it is RabbitMQ's
// business: its metadata store may not have flushed yet.)
func TestNodeServesAgainAfterACrash(t *testing.T) {
	t.Parallel()
	n := bustest.StartNode(t)
	roundTrip := func() {
		t.Helper()
		conn, err := amqp091.Dial(n.URL())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		c, err := conn.Channel()
		if err != nil {
			t.Fatalf("channel: %v", err)
		}
		q, err := c.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Publish("", q.Name, false, false, amqp091.Publishing{Body: []byte("42")}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			msg, ok, err := c.Get(q.Name, true)
			if err != nil {
				t.Fatal(err)
			}
			if ok && string(msg.Body) == "42" {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the message did not come back")
	}
	roundTrip()
	n.Kill()
	if conn, err := amqp091.Dial(n.URL()); err == nil {
		conn.Close()
		t.Fatal("the killed node still accepts connections")
	}
	n.Start()
	roundTrip()
}
