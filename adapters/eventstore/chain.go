package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"
)

// Chain returns the tamper-evidence hash of r: SHA-256 over the previous event's hash of the
// same stream and every field of the envelope that a reader trusts. Adapters stamp it at
// append; Verify recomputes it. Change the layout only with a new hash version.
func Chain(prev []byte, r Recorded) []byte {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	num := func(v int64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	field(prev)
	field([]byte(r.StreamID))
	num(r.StreamVersion)
	field(r.ID[:])
	field([]byte(r.Type))
	num(int64(r.SchemaVersion))
	field(r.Data)
	md, _ := json.Marshal(r.Metadata) // a struct of strings always encodes
	field(md)
	field([]byte(r.RecordedAt.UTC().Format(time.RFC3339Nano)))
	return h.Sum(nil)
}
