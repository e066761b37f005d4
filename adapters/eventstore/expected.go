package eventstore

import (
	"errors"
	"fmt"
)

// Expected is the state a stream must be in for an append to proceed.
type Expected struct {
	kind    expectedKind
	version int64
}

type expectedKind uint8

const (
	expectAny expectedKind = iota
	expectNoStream
	expectExact
)

var (
	// Any accepts the stream in whatever state it is.
	Any = Expected{kind: expectAny}
	// NoStream accepts only a stream that has no events yet.
	NoStream = Expected{kind: expectNoStream}
)

// Exact accepts only a stream whose last event has this version (versions start at 1).
func Exact(version int64) Expected {
	if version <= 0 {
		return NoStream
	}
	return Expected{kind: expectExact, version: version}
}

// Check reports whether a stream whose current version is actual (0: no stream) satisfies e.
func (e Expected) Check(actual int64) bool {
	switch e.kind {
	case expectNoStream:
		return actual == 0
	case expectExact:
		return actual == e.version
	default:
		return true
	}
}

// IsAny reports whether e accepts any state.
func (e Expected) IsAny() bool { return e.kind == expectAny }

// Version is the exact version expected (0 for NoStream, -1 for Any).
func (e Expected) Version() int64 {
	switch e.kind {
	case expectNoStream:
		return 0
	case expectExact:
		return e.version
	default:
		return -1
	}
}

func (e Expected) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExact:
		return fmt.Sprintf("version %d", e.version)
	default:
		return "any"
	}
}

// ErrVersionConflict is matched (errors.Is) by every *VersionConflictError.
var ErrVersionConflict = errors.New("stream version conflict")

// VersionConflictError says an append found its stream in another state than expected. It
// carries what a caller needs to reload and retry.
type VersionConflictError struct {
	Stream   string
	Expected Expected
	Actual   int64 // the stream's current version; 0 when it has no events
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("append to %s: expected %s, stream is at version %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrVersionConflict) hold.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }
