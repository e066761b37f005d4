package bus

import (
	"fmt"
	"time"
)

// AddTransientHandler is AddHandler for a handler that lives as long as one process: a
// worker's, whose name carries the id the worker draws at each start, so that work for it
// goes to its own queue. A durable queue per such name would pile up on RabbitMQ as workers
// come and go, each one still bound to its exchange and filling up.
//
// The queue is durable, so a broker restart or a dropped connection loses nothing while the
// process lives, but it expires: the broker deletes it once it has had no consumer for idle
// (RabbitMQ's x-expires), messages and all. An exclusive or auto-delete queue would vanish on
// the first dropped connection instead, taking with it work the still-running process
// needed. Choose idle well above the time after which the process counts as gone (a worker's
// heartbeat TTL), since what its queue held is then settled elsewhere. In process it is
// AddHandler: the in-process bus has no queues.
func (r *Router) AddTransientHandler(name, eventType string, idle time.Duration, h HandlerFunc) {
	if idle < time.Millisecond {
		panic(fmt.Sprintf("bus: transient handler %q: idle expiry %s, want at least 1ms", name, idle))
	}
	r.addHandler(name, eventType, []string{binding(eventType)}, idle, h)
}
