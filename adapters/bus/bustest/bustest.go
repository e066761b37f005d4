// Package bustest gives tests a bus on each transport: in process, and on the real RabbitMQ
// under a prefix of its own, whose exchanges and queues are deleted when the test ends.
package bustest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/domain/catalog"
)

// Transport names a kind of bus.
type Transport string

// The transports every bus test runs on.
const (
	InProcess Transport = "gochannel"
	RabbitMQ  Transport = "amqp"
)

// Transports lists them, for t.Run loops.
var Transports = []Transport{InProcess, RabbitMQ}

// URL is the broker tests use: ATTUNE_TEST_AMQP_URL, or the local default.
func URL() string {
	if u := os.Getenv("ATTUNE_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// New returns a bus on the transport with fast retries (so poisoning takes milliseconds),
// closed and — on RabbitMQ — torn down when the test ends. A broker that is down fails the
// test: these tests must run.
func New(t testing.TB, tr Transport) *bus.Bus {
	t.Helper()
	return NewWith(t, tr, nil)
}

// NewWith is New with the configuration changed by configure (a Transient classifier, say).
func NewWith(t testing.TB, tr Transport, configure func(*bus.Config)) *bus.Bus {
	t.Helper()
	cfg := bus.Config{
		Logger: Logger(t),
		Retry:  bus.Retry{MaxRetries: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond},
	}
	if configure != nil {
		configure(&cfg)
	}
	if tr == RabbitMQ {
		cfg.AMQPURL = URL()
		cfg.Prefix = "t." + strings.ToLower(ulid.Make().String()) + "."
	}
	b, err := bus.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("bustest: %s bus (start RabbitMQ with scripts/services.sh): %v", tr, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("bustest: close bus: %v", err)
		}
		if tr == RabbitMQ {
			exchanges, queues := b.Topology()
			if err := deleteTopology(exchanges, queues); err != nil {
				t.Errorf("bustest: delete exchanges and queues: %v", err)
			}
		}
	})
	return b
}

func deleteTopology(exchanges, queues []string) error {
	conn, err := amqp091.Dial(URL())
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	var errs []error
	for _, q := range queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			errs = append(errs, err)
		}
	}
	for _, x := range exchanges {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// QueueExpiry is what tests pass as bus.Config.QueueExpiry (--bus-queue-expiry) to servers
// they start under a prefix of their own: RabbitMQ then deletes the queues of that prefix
// once the test has stopped consuming, even when the test process was killed.
const QueueExpiry = time.Minute

// CleanupPrefix deletes, when the test ends, the exchanges a server under prefix may have
// declared: one per event type (and "<type>.addressed") and the poison exchange. RabbitMQ
// cannot list them by prefix over AMQP and exchanges do not expire, but their names follow
// from the event catalogue; deleting one that was never declared is no error. Queues go by
// QueueExpiry.
func CleanupPrefix(t testing.TB, prefix string) {
	t.Cleanup(func() {
		exchanges := []string{prefix + bus.PoisonTopic}
		for _, typ := range catalog.Types() {
			exchanges = append(exchanges, prefix+typ, prefix+typ+bus.AddressedSuffix)
		}
		if err := deleteTopology(exchanges, nil); err != nil {
			t.Errorf("bustest: delete the exchanges of %s: %v", prefix, err)
		}
	})
}

// QueueDepth is the number of ready messages in a RabbitMQ queue (unacked ones excluded).
func QueueDepth(t testing.TB, queue string) int {
	t.Helper()
	conn, err := amqp091.Dial(URL())
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("bustest: inspect queue %s: %v", queue, err)
	}
	return q.Messages
}

// Logger writes warnings and errors to the test log, where a failing test shows them. Lines
// logged after the test's cleanups (by a connection still winding down) are dropped: the
// testing package panics on a log after the end of a test.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}
