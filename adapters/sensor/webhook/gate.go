package webhook

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/attune-go/attune/domain/pack"
)

// DefaultRequests is the rate (per second) of a webhook trigger that declares no rate_limit:
// far above a real sender, low enough that a flood is refused before it reaches the log.
const DefaultRequests = 50

// allowedSource refuses a caller outside the trigger's allow_from. The address is the TCP
// peer's: a proxy in front of Attune must do its own filtering (X-Forwarded-For is a claim of
// the client, never trusted here).
func allowedSource(t pack.Trigger, remoteAddr string) error {
	if len(t.AllowFrom) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err == nil {
		addr = addr.Unmap()
		for _, s := range t.AllowFrom {
			if p, err := pack.ParseNetwork(s); err == nil && p.Contains(addr) {
				return nil
			}
		}
	}
	return refuse(CodeForbiddenSource, "trigger %s accepts calls only from its allow_from networks, not from %s", t.Ref, host)
}

// limiters holds one token bucket per webhook trigger, rebuilt when the trigger's declared
// rate changes (a pack reload).
type limiters struct {
	def pack.RateLimit

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	rate pack.RateLimit
	lim  *rate.Limiter
}

func newLimiters(def pack.RateLimit) *limiters {
	if def.Requests <= 0 || def.Seconds <= 0 {
		def = pack.RateLimit{Requests: DefaultRequests, Seconds: 1}
	}
	return &limiters{def: def, buckets: map[string]bucket{}}
}

// take spends one call of t's rate at now, or answers when the next call will be accepted.
func (l *limiters) take(t pack.Trigger, now time.Time) error {
	want := l.def
	if t.RateLimit != nil {
		want = *t.RateLimit
	}
	l.mu.Lock()
	b, ok := l.buckets[t.Ref]
	if !ok || b.rate != want {
		// A burst of the whole window: "10 per 60 s" accepts 10 at once, then one every 6 s.
		b = bucket{rate: want, lim: rate.NewLimiter(rate.Limit(float64(want.Requests)/float64(want.Seconds)), want.Requests)}
		l.buckets[t.Ref] = b
	}
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return &Error{Code: CodeRateLimited, RetryAfter: int(math.Ceil(delay.Seconds())),
			Message: "trigger " + t.Ref + " accepts at most " + rateText(want) + "; retry after the time in Retry-After"}
	}
	return nil
}

func rateText(r pack.RateLimit) string {
	if r.Seconds == 1 {
		return fmt.Sprintf("%d calls a second", r.Requests)
	}
	return fmt.Sprintf("%d calls per %d seconds", r.Requests, r.Seconds)
}
