package eventstore

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is a cursor into the global log: a pair ordered lexicographically. On Postgres it
// is (transaction id, global sequence) — the order that lets no reader skip an event that
// commits late; on EventStoreDB it is (commit, prepare); in memory (0, sequence).
type Position struct {
	Major uint64
	Minor uint64
}

// Start is the cursor before the first event.
var Start = Position{}

// Less reports whether p comes before q.
func (p Position) Less(q Position) bool {
	if p.Major != q.Major {
		return p.Major < q.Major
	}
	return p.Minor < q.Minor
}

// String renders the cursor as "major-minor", the form the CLI and API accept.
func (p Position) String() string { return fmt.Sprintf("%d-%d", p.Major, p.Minor) }

// ParsePosition reads a cursor written by String. The empty string is Start.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Start, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Position{}, fmt.Errorf("cursor %q: want MAJOR-MINOR", s)
	}
	major, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("cursor %q: %w", s, err)
	}
	minor, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("cursor %q: %w", s, err)
	}
	return Position{Major: major, Minor: minor}, nil
}
