package projections

import (
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
)

// The two kinds of failure a Target reports for a batch, classified once where the database
// is known (adapters/readmodel): the runner waits out the one and stops loudly on the other.
var (
	// ErrEventRejected is matched by an error caused by what an event holds: the database
	// refused the rows it makes (a data exception such as a NUL in jsonb, a constraint, an
	// index row too large). Retrying the same event alone will not help; fixing the database
	// or the code and restarting may.
	ErrEventRejected = errors.New("the read model refused an event")
	// ErrUnavailable is matched by an error of the database being away or busy (connection
	// lost or refused, shutting down, out of resources, a deadlock): it passes by itself.
	ErrUnavailable = errors.New("the read model's database is unavailable")
)

// StallError says that a projection stopped at an event it cannot apply: every event before
// it is applied, none after it. The runner keeps retrying that event slowly and clears the
// stall once it applies.
type StallError struct {
	Projection    string
	Position      eventstore.Position
	EventID       string
	Stream        string
	StreamVersion int64
	Type          string
	Since         time.Time // when the projection stalled
	Err           error
}

func (e *StallError) Error() string {
	return fmt.Sprintf("projection %s stalled at position %s (%s %s v%d, event %s): %v",
		e.Projection, e.Position, e.Type, e.Stream, e.StreamVersion, e.EventID, e.Err)
}

func (e *StallError) Unwrap() error { return e.Err }

func stallAt(projection string, r eventstore.Recorded, err error, now time.Time) *StallError {
	return &StallError{
		Projection: projection, Position: r.Position, EventID: r.ID.String(), Stream: r.StreamID,
		StreamVersion: r.StreamVersion, Type: r.Type, Since: now, Err: err,
	}
}
