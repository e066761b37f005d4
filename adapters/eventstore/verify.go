package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/oklog/ulid/v2"
)

// ErrBrokenChain is matched (errors.Is) by every *BrokenLinkError.
var ErrBrokenChain = errors.New("broken hash chain")

// BrokenLinkError names the first event, in log order, whose link to its stream's chain does
// not hold: the place an auditor starts looking.
type BrokenLinkError struct {
	Stream   string
	Version  int64
	EventID  ulid.ULID
	Position Position
	Reason   string
}

func (e *BrokenLinkError) Error() string {
	return fmt.Sprintf("hash chain of %s broken at version %d (event %s, position %s): %s",
		e.Stream, e.Version, e.EventID, e.Position, e.Reason)
}

// Is makes errors.Is(err, ErrBrokenChain) hold.
func (e *BrokenLinkError) Is(target error) bool { return target == ErrBrokenChain }

// Report sums up a log that verified clean.
type Report struct {
	Events  int
	Streams int
	Last    Position // position of the last event verified; Start for an empty log
}

// VerifyOption tunes Verify.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	batchSize int
}

// WithBatchSize sets how many events Verify reads per ReadAll call (default 1000).
func WithBatchSize(n int) VerifyOption {
	return func(c *verifyConfig) {
		if n > 0 {
			c.batchSize = n
		}
	}
}

// link is what Verify remembers of a stream: its last version and hash. Nothing else is kept,
// so memory grows with the number of streams, not with the length of the log.
type link struct {
	version int64
	hash    []byte
}

// Verify walks the whole global log in cursor order and checks, for every stream, that
// versions run 1, 2, 3 … without a gap, that each event's PrevHash is the Hash of the
// event before it in its stream, and that each Hash is Chain(PrevHash, event). It returns a
// *BrokenLinkError for the first event, in log order, where one of these fails.
//
// What it cannot see: events cut off the end of a stream, or a whole stream removed, leave
// every remaining link intact. Compare Report.Events (or Last) with a count kept elsewhere
// to catch those.
func Verify(ctx context.Context, store Store, opts ...VerifyOption) (Report, error) {
	cfg := verifyConfig{batchSize: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	var rep Report
	streams := map[string]link{}
	for {
		batch, err := store.ReadAll(ctx, rep.Last, cfg.batchSize)
		if err != nil {
			return rep, fmt.Errorf("verify log: read after %s: %w", rep.Last, err)
		}
		for _, r := range batch {
			prev, seen := streams[r.StreamID]
			if reason := checkLink(prev, r); reason != "" {
				return rep, &BrokenLinkError{
					Stream:   r.StreamID,
					Version:  r.StreamVersion,
					EventID:  r.ID,
					Position: r.Position,
					Reason:   reason,
				}
			}
			if !seen {
				rep.Streams++
			}
			streams[r.StreamID] = link{version: r.StreamVersion, hash: r.Hash}
			rep.Events++
			rep.Last = r.Position
		}
		if len(batch) < cfg.batchSize {
			return rep, nil
		}
	}
}

// checkLink returns why r does not follow prev in its stream, or "" when it does.
func checkLink(prev link, r Recorded) string {
	switch {
	case r.StreamVersion != prev.version+1 && prev.version == 0:
		return fmt.Sprintf("stream starts at version %d, want 1 (earlier events missing)", r.StreamVersion)
	case r.StreamVersion > prev.version+1:
		return fmt.Sprintf("version %d follows version %d (events missing)", r.StreamVersion, prev.version)
	case r.StreamVersion <= prev.version:
		return fmt.Sprintf("version %d follows version %d (duplicated or reordered)", r.StreamVersion, prev.version)
	case !bytes.Equal(r.PrevHash, prev.hash):
		if prev.version == 0 {
			return "first event of the stream has a previous hash"
		}
		return fmt.Sprintf("previous hash does not match the hash of version %d", prev.version)
	case !bytes.Equal(r.Hash, Chain(prev.hash, r)):
		return "hash does not match the event's content (the event or its hash was altered)"
	}
	return ""
}
