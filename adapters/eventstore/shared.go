package eventstore

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/attune-go/attune/domain/catalog"
	"github.com/attune-go/attune/domain/event"
)

// sharedPayload is the payload of a Recorded made Shared, decoded on the first Decode of any
// of its copies.
type sharedPayload struct {
	once sync.Once
	e    event.Event
	err  error
}

// Shared returns r with its payload decoded at most once for r and every copy made of it
// from now on, safely for concurrent callers: what the bus hands to the several handlers of
// one event in a process. The payload is then one value for all of them: read it, never
// change it.
func (r Recorded) Shared() Recorded {
	if r.shared == nil {
		r.shared = &sharedPayload{}
	}
	return r
}

// decode unmarshals the payload into a fresh value of its type.
func (r Recorded) decode() (event.Event, error) {
	e, ok := catalog.New(r.Type)
	if !ok {
		return nil, fmt.Errorf("decode event %s (%s): unknown type %q", r.ID, r.StreamID, r.Type)
	}
	if err := json.Unmarshal(r.Data, e); err != nil {
		return nil, fmt.Errorf("decode event %s (%s %s): %w", r.ID, r.StreamID, r.Type, err)
	}
	return e, nil
}
