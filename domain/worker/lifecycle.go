package worker

import "github.com/attune-go/attune/domain/event"

// Lifecycle is a worker's state as its stream tells it: registered, or gone (and why).
// Only the last lifecycle event counts: a worker that restarts under the same id registers
// again after its deregistration.
type Lifecycle struct {
	registered bool
	why        string
}

// FoldLifecycle folds a worker's stream; events of other kinds are ignored.
func FoldLifecycle(events []event.Event) Lifecycle {
	var l Lifecycle
	for _, e := range events {
		l.Apply(e)
	}
	return l
}

// Apply folds one more event of the stream.
func (l *Lifecycle) Apply(e event.Event) {
	switch e := e.(type) {
	case *WorkerRegistered:
		l.Apply(*e)
	case *WorkerDeregistered:
		l.Apply(*e)
	case WorkerRegistered:
		*l = Lifecycle{registered: true}
	case WorkerDeregistered:
		*l = Lifecycle{why: e.Reason}
		if e.Lost {
			l.why = "lost: " + e.Reason
		}
	}
}

// Registered reports whether the worker's last lifecycle event is a registration.
func (l Lifecycle) Registered() bool { return l.registered }

// Left reports whether the worker can no longer report on its runs, and why: deregistered
// (the reason, "lost: …" when it stopped answering), or it never registered.
func (l Lifecycle) Left() (why string, left bool) {
	switch {
	case l.registered:
		return "", false
	case l.why == "":
		return "never registered", true
	}
	return l.why, true
}
