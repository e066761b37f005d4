package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/outage"
)

// notifier turns NOTIFYs on the store's channel into a broadcast to every subscriber of the
// store. One LISTEN connection serves them all, so subscribers do not each pin a connection of
// the pool; it runs while at least one subscriber does.
type notifier struct {
	pool     *pgxpool.Pool
	channel  string
	maxRetry time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	users   int
	stop    context.CancelFunc
	stopped chan struct{}
	wake    chan struct{} // closed and replaced on every notification
}

// firstReconnect is the delay before the first reconnect of a lost listener; it doubles up to
// maxRetry while the server stays away. A dropped connection is usually a one-off.
const firstReconnect = 50 * time.Millisecond

func newNotifier(pool *pgxpool.Pool, channel string, maxRetry time.Duration, log *slog.Logger) *notifier {
	return &notifier{pool: pool, channel: channel, maxRetry: maxRetry, log: log, wake: make(chan struct{})}
}

// join registers a subscriber, starting the listener for the first one. The returned leave
// stops it after the last one, and waits until its connection is back.
func (n *notifier) join() (leave func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.users++
	if n.users == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		n.stop, n.stopped = cancel, make(chan struct{})
		go n.run(ctx, n.stopped)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			n.mu.Lock()
			n.users--
			var wait chan struct{}
			if n.users == 0 {
				n.stop()
				wait = n.stopped
			}
			n.mu.Unlock()
			if wait != nil {
				<-wait
			}
		})
	}
}

// changed returns a channel closed at the next notification. Take it before reading, so a
// notification that arrives during the read is not missed.
func (n *notifier) changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wake
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.wake)
	n.wake = make(chan struct{})
}

// run keeps a LISTEN connection up until ctx ends, reconnecting after failures. Subscribers
// keep polling meanwhile, so an outage slows them down but loses nothing.
func (n *notifier) run(ctx context.Context, stopped chan struct{}) {
	defer close(stopped)
	delay := firstReconnect
	down := outage.NewLog(n.log.With(slog.String("channel", n.channel)), "event listener (subscribers poll until it is back)")
	for {
		listened, err := n.listen(ctx, down.Recovered)
		if ctx.Err() != nil {
			return
		}
		if listened {
			delay = firstReconnect
		}
		down.Failed(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, max(n.maxRetry, firstReconnect))
	}
}

// listen holds one connection in LISTEN and broadcasts each notification until it fails.
// listened reports whether it got as far as listening.
func (n *notifier) listen(ctx context.Context, up func()) (listened bool, err error) {
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire listener connection: %w", err)
	}
	// A connection that listened never goes back to the pool: it would keep receiving.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	// Named in pg_stat_activity, so operators can tell it from the pool's connections.
	app := pc.Config().RuntimeParams["application_name"] + " listen"
	if _, err := pc.Exec(ctx, "SELECT set_config('application_name', $1, false)", strings.TrimSpace(app)); err != nil {
		return false, fmt.Errorf("name listener connection: %w", err)
	}
	if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{n.channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen on %s: %w", n.channel, err)
	}
	up()
	// Events may have committed while nobody listened.
	n.broadcast()
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("wait for notification on %s: %w", n.channel, err)
		}
		n.broadcast()
	}
}
