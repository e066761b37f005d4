package postgres

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsTransient reports whether err says the database is away or busy for a while rather
// than that the request is wrong: connection refused or reset, an admin shutdown or a
// server starting up, too many connections, a serialization failure or a deadlock. Such a
// failure is worth retrying for as long as it lasts, and must never count against a
// message's poison budget. The one place that reads pgx's errors for it, so nothing outside
// adapters/ needs pgx to tell an outage from a bug.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientCode(pgErr.Code)
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	if pgconn.SafeToRetry(err) {
		return true // pgx knows the request never reached the server
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true // a dial or read on the wire failed: the server, not the request
	}
	return false
}

// transientCode is the SQLSTATE classes and codes of a server that is away or overloaded.
func transientCode(code string) bool {
	switch code {
	case "57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now (starting up, recovering)
		"53300", // too_many_connections
		"40001", // serialization_failure
		"40P01": // deadlock_detected
		return true
	}
	return len(code) == 5 && code[:2] == "08" // connection exceptions
}
