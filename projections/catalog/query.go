package catalog

import (
	"errors"
	"fmt"
	"slices"

	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/internal/keyset"
)

// Page sizes of the lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// PackFilter selects packs in ref order; a page continues after Cursor (the Next of the
// previous page).
type PackFilter struct {
	IncludeRetired bool
	Limit          int // 0: DefaultLimit
	Cursor         string
}

// Validate returns every problem of the filter at once.
func (f PackFilter) Validate() error {
	_, _, cerr := keyset.DecodeString(f.Cursor)
	return errors.Join(keyset.CheckLimit(f.Limit, MaxLimit), cerr)
}

// PageSize is the number of items a page holds at most.
func (f PackFilter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// PackPage is one page of packs. Next is empty on the last page.
type PackPage struct {
	Items []Pack
	Next  string
}

// ComponentFilter selects components of one kind in ref order. Empty fields do not filter.
type ComponentFilter struct {
	Kind           pack.Kind // required
	Pack           string
	Trigger        string // rules
	Action         string // rules and policies
	Enabled        *bool  // rules (effective state), sensors, policies
	IncludeRetired bool
	Limit          int // 0: DefaultLimit
	Cursor         string
}

// Validate returns every problem of the filter at once.
func (f ComponentFilter) Validate() error {
	var errs []error
	if !slices.Contains(pack.Kinds, f.Kind) {
		errs = append(errs, fmt.Errorf("component kind %q: want one of %v", f.Kind, pack.Kinds))
	}
	errs = append(errs, keyset.CheckLimit(f.Limit, MaxLimit))
	if _, _, err := keyset.DecodeString(f.Cursor); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f ComponentFilter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// ComponentPage is one page of components. Next is empty on the last page.
type ComponentPage struct {
	Items []Component
	Next  string
}

// Cursor returns the cursor of the page after the row with this ref (packs and components
// alike are listed in ref order).
func Cursor(ref string) string { return keyset.EncodeString(ref) }

// ParseCursor returns the ref a cursor continues after; ok is false for the first page.
func ParseCursor(c string) (after string, ok bool, err error) { return keyset.DecodeString(c) }
