package policies

import (
	"errors"

	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/projections/internal/keyset"
)

// Page sizes of the list.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Counts are a policy's executions now: holding a slot, waiting in its queue, held back by
// its rate limit.
type Counts struct {
	Running int64
	Queued  int64
	Delayed int64
}

// View is a policy with its live counts; Get adds them per key.
type View struct {
	Policy
	Counts
	Keys []KeyCounts // Get only: one entry per key with a member, in key order
}

// KeyCounts are the counts of one key of a policy.
type KeyCounts struct {
	Key string
	Counts
}

// Filter selects live policies in ref order. Empty fields do not filter.
type Filter struct {
	Pack   string
	Action string
	Type   policy.Type
	Limit  int // 0: DefaultLimit
	Cursor string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	if f.Type != "" {
		if _, err := policy.ParseType(string(f.Type)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, keyset.CheckLimit(f.Limit, MaxLimit))
	if _, _, err := keyset.DecodeString(f.Cursor); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f Filter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// Page is one page of policies. Next is empty on the last page.
type Page struct {
	Items []View
	Next  string
}

// Cursor returns the cursor of the page after the policy ref.
func Cursor(ref string) string { return keyset.EncodeString(ref) }

// ParseCursor returns the ref a cursor continues after; ok is false for the first page.
func ParseCursor(c string) (after string, ok bool, err error) { return keyset.DecodeString(c) }
