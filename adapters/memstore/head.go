package memstore

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Head returns the position of the last event, or eventstore.Start when the log is empty:
// subscribing after it delivers exactly what is appended from now on.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Start, fmt.Errorf("read head of the log: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) == 0 {
		return eventstore.Start, nil
	}
	return s.log[len(s.log)-1].Position, nil
}
