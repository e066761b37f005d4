package readmodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attune-go/attune/projections"
)

// classify marks an error of a batch transaction as projections.ErrEventRejected (the
// database refused what the events make: the same batch will fail again) or
// projections.ErrUnavailable (the database is away or busy: it passes), so the runner knows,
// without knowing PostgreSQL, whether to wait or to stall. Anything else is left as it is;
// the runner treats the unknown as the events' fault, which is the loud choice.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case rejected(err):
		return fmt.Errorf("%w: %w", projections.ErrEventRejected, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", projections.ErrUnavailable, err)
	}
	return err
}

// rejected: SQLSTATE class 22 (data exception: a NUL or a bad escape in jsonb, invalid
// UTF-8, a value out of range), 23 (integrity constraint violation) and 54 (program limit
// exceeded: an index row too large for a btree).
func rejected(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// unavailable: SQLSTATE class 08 (connection exception), 53 (insufficient resources), 57P0x
// (the server shutting down or the session terminated), 40001/40P01 (serialization failure,
// deadlock: retry), and the errors of a connection that broke or never opened.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) != 5:
			return false
		case pgErr.Code[:2] == "08", pgErr.Code[:2] == "53", pgErr.Code[:4] == "57P0",
			pgErr.Code == "40001", pgErr.Code == "40P01", pgErr.Code == "55P03":
			return true
		}
		return false
	}
	var (
		connect *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connect) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || isClosed(err)
}

// isClosed: pgx reports a connection it has already closed without a typed error.
func isClosed(err error) bool {
	for _, s := range []string{"conn closed", "closed pool", "connection reset", "broken pipe"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
