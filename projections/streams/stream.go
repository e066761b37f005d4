// Package streams is the streams read model: one row per stream of the log, with its
// category, version and first and last event types — the index an auditor browses before
// reading or verifying a stream.
package streams

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:streams"

// Page sizes of ListStreams.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Stream is one row of the read model.
type Stream struct {
	ID         string
	Category   string // the id up to its first '-': "execution" for "execution-01H…"
	Version    int64
	EventCount int64
	FirstType  string
	LastType   string
	CreatedAt  time.Time // RecordedAt of its first event
	UpdatedAt  time.Time // RecordedAt of its last event
	Position   eventstore.Position
}

// Store loads and saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	LoadStreams(ctx context.Context, ids []string) (map[string]Stream, error)
	SaveStreams(ctx context.Context, rows []Stream) error
}

// Category is the part of a stream id before its first '-', or the whole id without one.
func Category(streamID string) string {
	c, _, _ := strings.Cut(streamID, "-")
	return c
}

// Apply folds a batch into the rows of the streams it touches: one load, one save.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	if len(batch) == 0 {
		return nil
	}
	var ids []string
	seen := map[string]bool{}
	for _, r := range batch {
		if !seen[r.StreamID] {
			seen[r.StreamID] = true
			ids = append(ids, r.StreamID)
		}
	}
	rows, err := s.LoadStreams(ctx, ids)
	if err != nil {
		return fmt.Errorf("project %s: load %d streams: %w", Name, len(ids), err)
	}
	for _, r := range batch {
		st, ok := rows[r.StreamID]
		if !ok {
			st = Stream{ID: r.StreamID, Category: Category(r.StreamID), FirstType: r.Type, CreatedAt: r.RecordedAt}
		}
		// Counted, not derived from the version: the count proves each event was applied
		// exactly once, which the runner's tests rely on.
		st.EventCount++
		st.Version = r.StreamVersion
		st.LastType = r.Type
		st.UpdatedAt = r.RecordedAt
		st.Position = r.Position
		rows[r.StreamID] = st
	}
	out := make([]Stream, 0, len(ids))
	for _, id := range ids {
		out = append(out, rows[id])
	}
	if err := s.SaveStreams(ctx, out); err != nil {
		return fmt.Errorf("project %s: save %d streams: %w", Name, len(out), err)
	}
	return nil
}

// Filter selects streams in id order; a page continues after Cursor (the Next of the last one).
type Filter struct {
	Category string
	Limit    int // 0: DefaultLimit
	Cursor   string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	if f.Limit < 0 || f.Limit > MaxLimit {
		errs = append(errs, fmt.Errorf("limit %d: want 1 to %d", f.Limit, MaxLimit))
	}
	if _, _, err := ParseCursor(f.Cursor); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f Filter) PageSize() int {
	if f.Limit == 0 {
		return DefaultLimit
	}
	return f.Limit
}

// Page is one page of ListStreams. Next is empty on the last page.
type Page struct {
	Items []Stream
	Next  string
}

// Cursor returns the opaque cursor of the page after s.
func Cursor(s Stream) string { return base64.RawURLEncoding.EncodeToString([]byte(s.ID)) }

// ParseCursor returns the stream id a cursor continues after; ok is false for the first page.
func ParseCursor(c string) (after string, ok bool, err error) {
	if c == "" {
		return "", false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) == 0 {
		return "", false, fmt.Errorf("cursor %q: not a cursor of this list", c)
	}
	return string(raw), true, nil
}
