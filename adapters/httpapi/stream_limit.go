package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/attune-go/attune/adapters/auth"
)

// The default caps on live streams. A stream holds a log subscription and up to two batches
// of events in memory; 200 streams from position 0 once took the server from 130 to 840 MB.
const (
	DefaultMaxStreamsPerCaller = 8
	DefaultMaxStreams          = 64
)

// CodeTooManyStreams answers a stream over a cap (429 with Retry-After).
const CodeTooManyStreams = "too_many_streams"

// streamLimiter counts the open streams per caller and in all.
type streamLimiter struct {
	perCaller, total int

	mu     sync.Mutex
	open   map[string]int
	opened int
}

func newStreamLimiter(perCaller, total int) *streamLimiter {
	return &streamLimiter{perCaller: perCaller, total: total, open: map[string]int{}}
}

// acquire takes a place for caller's stream, or answers why there is none.
func (l *streamLimiter) acquire(caller string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open[caller] >= l.perCaller:
		return nil, &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyStreams,
			Message: fmt.Sprintf("%s has %d live streams open, the most one caller may have; close one or retry later", caller, l.perCaller)}
	case l.opened >= l.total:
		return nil, &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyStreams,
			Message: fmt.Sprintf("the server has %d live streams open, the most it serves; retry later", l.total)}
	}
	l.open[caller]++
	l.opened++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[caller]--; l.open[caller] == 0 {
				delete(l.open, caller)
			}
			l.opened--
		})
	}, nil
}

// streamCaller names who opened a stream: the token's name, or without access control the
// client's address.
func streamCaller(r *http.Request) string {
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		return "token " + p.Name
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "client " + host
}
