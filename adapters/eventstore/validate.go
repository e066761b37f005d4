package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/oklog/ulid/v2"
)

// ErrInvalidAppend is matched (errors.Is) by every error CheckAppend returns: the caller sent
// something no adapter can store, so retrying it is pointless.
var ErrInvalidAppend = errors.New("invalid append")

// CheckAppend rejects, before any I/O, an append that no adapter could store faithfully: no
// stream, no events, an event without id or type, or data that is not one JSON value (the
// exact bytes are hashed, so adapters must not repair them). Every adapter calls it first, so
// they all fail the same way.
func CheckAppend(stream string, events []Proposed) error {
	var errs []error
	if stream == "" {
		errs = append(errs, errors.New("empty stream id"))
	}
	if len(events) == 0 {
		errs = append(errs, errors.New("no events"))
	}
	for i, e := range events {
		if e.ID == (ulid.ULID{}) {
			errs = append(errs, fmt.Errorf("event %d: zero id", i))
		}
		if e.Type == "" {
			errs = append(errs, fmt.Errorf("event %d: empty type", i))
		}
		if !json.Valid(e.Data) {
			errs = append(errs, fmt.Errorf("event %d (%s): data is not valid JSON", i, e.Type))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("append %d events to %q: %w: %w", len(events), stream, ErrInvalidAppend, errors.Join(errs...))
}
