package executions

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// Page sizes of ListExecutions.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects executions, newest first. Empty fields do not filter; a page continues
// after Cursor, the Next of the previous page.
type Filter struct {
	Status   []execution.Status // any of them
	Action   string
	Rule     string
	Trigger  string
	Parent   string
	TraceTag string
	Since    time.Time // created at or after
	Until    time.Time // created before
	Limit    int       // 0: DefaultLimit
	Cursor   string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	for _, s := range f.Status {
		if _, err := execution.ParseStatus(string(s)); err != nil {
			errs = append(errs, err)
		}
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		errs = append(errs, fmt.Errorf("limit %d: want 1 to %d", f.Limit, MaxLimit))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs = append(errs, fmt.Errorf("since %s is not before until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339)))
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

// Page is one page of ListExecutions. Next is empty on the last page.
type Page struct {
	Items []Execution
	Next  string
}

// Cursor returns the opaque cursor of the page that follows x: the key (created_at, id)
// the list is ordered by, so a page costs an index range scan however deep it is.
func Cursor(x Execution) string {
	raw := x.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + x.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseCursor reads a cursor made by Cursor; ok is false for the empty cursor (first page).
func ParseCursor(c string) (key Key, ok bool, err error) {
	if c == "" {
		return Key{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return Key{}, false, fmt.Errorf("cursor %q: %w", c, err)
	}
	at, id, found := strings.Cut(string(raw), "|")
	if !found || id == "" {
		return Key{}, false, fmt.Errorf("cursor %q: not a cursor of this list", c)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Key{}, false, fmt.Errorf("cursor %q: %w", c, err)
	}
	return Key{CreatedAt: t, ID: id}, true, nil
}

// Key is the sort key of the list: created_at descending, then id descending.
type Key struct {
	CreatedAt time.Time
	ID        string
}
