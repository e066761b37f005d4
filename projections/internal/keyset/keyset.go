// Package keyset encodes the opaque cursors of the read models' lists. A cursor is the sort
// key of the last row of a page, so the next page is an index range scan after it however deep
// it is (no OFFSET). Lists ordered newest first use a (time, id) key; lists in name order use
// the name alone.
package keyset

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// TimeID is the key of a list ordered by (time, id).
type TimeID struct {
	At time.Time
	ID string
}

// EncodeTimeID returns the cursor that continues after the row with key (at, id).
func EncodeTimeID(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// DecodeTimeID reads a cursor made by EncodeTimeID; ok is false for the empty cursor.
func DecodeTimeID(c string) (key TimeID, ok bool, err error) {
	if c == "" {
		return TimeID{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return TimeID{}, false, fmt.Errorf("cursor %q: %w", c, err)
	}
	at, id, found := strings.Cut(string(raw), "|")
	if !found || id == "" {
		return TimeID{}, false, fmt.Errorf("cursor %q: not a cursor of this list", c)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return TimeID{}, false, fmt.Errorf("cursor %q: %w", c, err)
	}
	return TimeID{At: t, ID: id}, true, nil
}

// EncodeString returns the cursor that continues after the row keyed s.
func EncodeString(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// DecodeString reads a cursor made by EncodeString; ok is false for the empty cursor.
func DecodeString(c string) (after string, ok bool, err error) {
	if c == "" {
		return "", false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) == 0 {
		return "", false, fmt.Errorf("cursor %q: not a cursor of this list", c)
	}
	return string(raw), true, nil
}

// CheckLimit rejects a page size outside 0 (the default) to max.
func CheckLimit(limit, max int) error {
	if limit < 0 || limit > max {
		return fmt.Errorf("limit %d: want 1 to %d", limit, max)
	}
	return nil
}

// CheckRange rejects a time range that ends before it starts; zero ends are open.
func CheckRange(since, until time.Time) error {
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return fmt.Errorf("since %s is not before until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return nil
}

// PageSize is limit, or def when limit is 0.
func PageSize(limit, def int) int {
	if limit == 0 {
		return def
	}
	return limit
}
