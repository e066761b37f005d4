// Package rowfold is the first step every one-row-per-aggregate projection takes on a batch:
// pick the events it reads, decode them, and key each by the row it changes, so the
// projection can load those rows in one statement, fold in memory and save each once.
package rowfold

import (
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// Change is one event of a batch, decoded, with the key of the row it changes.
type Change struct {
	R  eventstore.Recorded
	E  event.Event
	ID string
}

// Select returns, in log order, the events of batch whose wire type is in types, each keyed
// by key, and the distinct keys in the order first seen. Other types are skipped without
// being decoded. An event that key cannot place is an error naming the projection and what
// the key is ("execution id"): the log and the projection disagree.
func Select(projection, what string, batch []eventstore.Recorded, types map[string]bool, key func(event.Event) string) ([]Change, []string, error) {
	var (
		changes []Change
		ids     []string
		seen    = map[string]bool{}
	)
	for _, r := range batch {
		if !types[r.Type] {
			continue
		}
		e, err := r.Decode()
		if err != nil {
			return nil, nil, fmt.Errorf("project %s: %w", projection, err)
		}
		id := key(e)
		if id == "" {
			return nil, nil, fmt.Errorf("project %s: event %s (%s) has no %s", projection, r.ID, r.Type, what)
		}
		changes = append(changes, Change{R: r, E: e, ID: id})
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return changes, ids, nil
}
