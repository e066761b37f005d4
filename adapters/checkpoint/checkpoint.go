// Package checkpoint stores how far a reader of the log (the relay, a projector) has got,
// keyed by the reader's persisted name.
package checkpoint

import (
	"context"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Store loads and saves checkpoints. A name never saved loads as eventstore.Start.
type Store interface {
	Load(ctx context.Context, name string) (eventstore.Position, error)
	Save(ctx context.Context, name string, pos eventstore.Position) error
}
