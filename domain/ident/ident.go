// Package ident derives identifiers deterministically. Handlers are delivered every message at
// least once; when the id of what they create is a pure function of what caused it, a
// redelivered message appends to the same stream with NoStream and becomes a no-op instead of a
// duplicate (one enforcement per (event, rule), one execution per enforcement, one timer event
// per (rule, tick)).
package ident

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/oklog/ulid/v2"
)

// Derive returns a ULID that is a pure function of parent and parts. It keeps parent's
// timestamp, so derived ids sort with what caused them, and takes its 80 random bits from a
// SHA-256 of parent and the length-prefixed parts, so ("a","bc") and ("ab","c") differ.
func Derive(parent ulid.ULID, parts ...string) ulid.ULID {
	return derive(parent.Time(), parent[:], parts)
}

// At returns a ULID that is a pure function of the instant t (at millisecond precision, the
// resolution of a ULID) and parts.
func At(t time.Time, parts ...string) ulid.ULID {
	ms := uint64(max(t.UnixMilli(), 0))
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], ms)
	return derive(ms, seed[:], parts)
}

func derive(ms uint64, seed []byte, parts []string) ulid.ULID {
	h := sha256.New()
	h.Write(seed)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)
	var id ulid.ULID
	// SetTime fails only beyond year 10889; clamp rather than return an error nobody can act on.
	_ = id.SetTime(min(ms, ulid.MaxTime()))
	copy(id[6:], sum[:10])
	return id
}
