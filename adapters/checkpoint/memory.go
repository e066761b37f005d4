package checkpoint

import (
	"context"
	"fmt"
	"sync"

	"github.com/attune-go/attune/adapters/eventstore"
)

var _ Store = (*Memory)(nil)

// Memory keeps checkpoints in memory, for tests and the in-memory store.
type Memory struct {
	mu  sync.Mutex
	pos map[string]eventstore.Position
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{pos: map[string]eventstore.Position{}} }

// Load implements Store.
func (m *Memory) Load(ctx context.Context, name string) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos[name], nil
}

// Save implements Store.
func (m *Memory) Save(ctx context.Context, name string, pos eventstore.Position) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save checkpoint %s at %s: %w", name, pos, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos[name] = pos
	return nil
}
