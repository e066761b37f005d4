package readmodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attune-go/attune/projections"
)

func TestClassifyTellsTheEventsFaultFromTheDatabaseBeingAway(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("apply batch: %w", &pgconn.PgError{Code: code}) }
	for _, c := range []struct {
		name string
		err  error
		want error // nil: left unclassified
	}{
		{"NUL in jsonb (22P05)", pg("22P05"), projections.ErrEventRejected},
		{"invalid UTF-8 (22021)", pg("22021"), projections.ErrEventRejected},
		{"a check constraint (23514)", pg("23514"), projections.ErrEventRejected},
		{"an index row too large (54000)", pg("54000"), projections.ErrEventRejected},
		{"connection failure (08006)", pg("08006"), projections.ErrUnavailable},
		{"terminated by an administrator (57P01)", pg("57P01"), projections.ErrUnavailable},
		{"too many connections (53300)", pg("53300"), projections.ErrUnavailable},
		{"deadlock (40P01)", pg("40P01"), projections.ErrUnavailable},
		{"a broken connection", fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), projections.ErrUnavailable},
		{"a deadline", context.DeadlineExceeded, projections.ErrUnavailable},
		{"a syntax error in our own SQL (42601)", pg("42601"), nil},
		{"a projection's own error", errors.New("event has no id"), nil},
	} {
		got := classify(c.err)
		switch {
		case c.want == nil && (errors.Is(got, projections.ErrEventRejected) || errors.Is(got, projections.ErrUnavailable)):
			t.Errorf("%s: classified as %v, want left alone", c.name, got)
		case c.want != nil && !errors.Is(got, c.want):
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		case !errors.Is(got, c.err):
			t.Errorf("%s: %v no longer wraps the original error", c.name, got)
		}
	}
}
