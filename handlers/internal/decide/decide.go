// Package decide is the one path by which handlers change a stream: fold it (one read), let
// the domain decide which events follow, append them with the version the decision was made
// on (eventstore.Exact), and on a version conflict read again and decide again, a bounded
// number of times. Every handler that decides on one stream goes through it, so the policy
// for conflicts and for permanent errors is written once:
//
//   - a stream that cannot be folded (an undecodable event, a history the domain refuses)
//     is a permanent error (bus.Permanent): no retry makes it readable;
//   - an unknown stream is ErrNoStream, returned as it is: the caller says what it means
//     (404 to the API, "not yet" to a handler);
//   - a version conflict re-reads the stream and asks the decider again; after Attempts
//     conflicts in a row the *eventstore.VersionConflictError is returned, which the bus
//     retries (transient), since each conflict means another writer made progress;
//   - a failed read or append (the database away) is returned as it is, for the caller or
//     the bus to retry;
//   - what the decider returns as an error is returned as it is: the decider alone knows
//     whether its refusal is permanent (wrap it with bus.Permanent) or not.
//
// A caller that already holds the fold (it read the stream earlier in the same message, or
// appended to it and applied what it appended) passes it to RunFrom: the first decision
// costs no read, and only a conflict reads the stream again. That is how a handler folds a
// stream once per message.
package decide

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// DefaultAttempts bounds the decisions of one Run: each conflict means another writer moved
// the stream on, so a handful in a row is already unusual.
const DefaultAttempts = 8

// ErrNoStream is the fold of a stream that holds no event (FoldExecution and the like).
var ErrNoStream = errors.New("no such stream")

// Log is what the path needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Fold builds the state S of a stream from its events, in version order. It returns
// ErrNoStream (wrapped or not) for an empty stream it cannot fold; any other error means the
// stream is corrupt.
type Fold[S any] func(stream string, recorded []eventstore.Recorded) (S, error)

// Folded is a stream folded up to Version.
type Folded[S any] struct {
	State   S
	Version int64               // the stream's version folded: the append's expected version
	Last    eventstore.Recorded // the latest event folded (zero for an empty stream)
}

// Decision is what a decider wants appended: nothing (no events) is a decision too.
type Decision struct {
	Events   []event.Event
	Metadata event.Metadata
	// Proposed, when set, is appended instead of Events: events the decider encoded itself
	// because it needs their ids (to find out later whether an append whose answer was lost
	// committed after all).
	Proposed []eventstore.Proposed
}

// Decider decides on a folded stream. It is called again after each conflict, on the
// stream as it is then, so it must not keep what an earlier call decided: capture the
// final call's results in the closure, they are the ones that count.
type Decider[S any] func(ctx context.Context, f Folded[S]) (Decision, error)

// Result says how a Run ended.
type Result struct {
	Appended  bool  // the decision had events and they were appended
	Version   int64 // the stream's version after the append (or as folded, when nothing was appended)
	Attempts  int   // decisions taken: 1 + the conflicts met
	Conflicts int
}

// Loop is the path for one kind of stream.
type Loop[S any] struct {
	Log  Log
	Fold Fold[S]
	// Attempts bounds the decisions of one Run; DefaultAttempts if 0.
	Attempts int
}

// Load reads and folds a stream.
func (l Loop[S]) Load(ctx context.Context, stream string) (Folded[S], error) {
	recorded, err := l.Log.ReadStream(ctx, stream)
	if err != nil {
		return Folded[S]{}, fmt.Errorf("read %s: %w", stream, err)
	}
	return l.fold(stream, recorded)
}

func (l Loop[S]) fold(stream string, recorded []eventstore.Recorded) (Folded[S], error) {
	st, err := l.Fold(stream, recorded)
	if errors.Is(err, ErrNoStream) {
		return Folded[S]{}, err
	}
	if err != nil {
		return Folded[S]{}, bus.Permanent(fmt.Errorf("fold %s: %w", stream, err))
	}
	f := Folded[S]{State: st}
	if n := len(recorded); n > 0 {
		f.Last = recorded[n-1]
		f.Version = f.Last.StreamVersion
	}
	return f, nil
}

// Run folds the stream, decides, and appends, deciding again after each conflict.
func (l Loop[S]) Run(ctx context.Context, stream string, decide Decider[S]) (Result, error) {
	return l.run(ctx, stream, nil, decide)
}

// RunFrom is Run starting from a fold the caller holds: the first decision costs no read.
// known must be the stream folded up to known.Version; if the stream has moved on since, the
// append conflicts and the loop reads it again.
func (l Loop[S]) RunFrom(ctx context.Context, stream string, known Folded[S], decide Decider[S]) (Result, error) {
	return l.run(ctx, stream, &known, decide)
}

func (l Loop[S]) run(ctx context.Context, stream string, known *Folded[S], decide Decider[S]) (Result, error) {
	attempts := l.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var res Result
	for {
		var f Folded[S]
		if known != nil {
			f, known = *known, nil
		} else {
			var err error
			if f, err = l.Load(ctx, stream); err != nil {
				return res, err
			}
		}
		res.Attempts++
		res.Version = f.Version
		d, err := decide(ctx, f)
		if err != nil {
			return res, err
		}
		proposed := d.Proposed
		if len(proposed) == 0 {
			if proposed, err = Propose(d.Metadata, d.Events...); err != nil {
				return res, err
			}
		}
		if len(proposed) == 0 {
			return res, nil
		}
		out, err := l.Log.Append(ctx, stream, eventstore.Exact(f.Version), proposed...)
		if err == nil {
			res.Appended, res.Version = true, out.NextExpected
			return res, nil
		}
		if !errors.Is(err, eventstore.ErrVersionConflict) {
			return res, fmt.Errorf("append %d events to %s: %w", len(proposed), stream, err)
		}
		res.Conflicts++
		if res.Attempts >= attempts {
			return res, fmt.Errorf("append %d events to %s: still conflicting after %d decisions: %w", len(proposed), stream, res.Attempts, err)
		}
	}
}

// Propose encodes events with one metadata. An event that cannot be encoded is a
// programming error no retry fixes: permanent.
func Propose(md event.Metadata, events ...event.Event) ([]eventstore.Proposed, error) {
	out := make([]eventstore.Proposed, len(events))
	for i, e := range events {
		p, err := eventstore.NewProposed(e, md)
		if err != nil {
			return nil, bus.Permanent(err)
		}
		out[i] = p
	}
	return out, nil
}

// Decode decodes every event of a stream, for a Fold; an event that does not decode is
// returned as the error (the loop makes it permanent).
func Decode(recorded []eventstore.Recorded) ([]event.Event, error) {
	out := make([]event.Event, len(recorded))
	for i, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}
