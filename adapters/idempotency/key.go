// Package idempotency makes POST requests safe to retry: a client sends an Idempotency-Key
// header, the first request with that key claims the id of what it creates, and every retry
// within the key's lifetime gets the same id back and creates nothing new. The id is claimed
// before the log is written and the write goes into that id's stream with NoStream, so a crash
// between the two is completed by the retry, and a retry after success conflicts harmlessly.
package idempotency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Header is the request header that carries the key (as Stripe and the IETF draft name it).
const Header = "Idempotency-Key"

// MaxKeyLen bounds a key: a UUID or ULID fits many times over, and the key is indexed.
const MaxKeyLen = 255

// TTL is how long a key is remembered; a retry after that creates a new resource.
const TTL = 24 * time.Hour

// ErrKeyReused means the key was first used with another request body (API: 422
// idempotency_key_reused): answering the first request's resource would hide the change.
var ErrKeyReused = errors.New("idempotency key reused with a different request")

// CheckKey refuses a key that is empty, longer than MaxKeyLen or holds anything but printable
// ASCII, with a message naming the fault.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%s is empty; send a unique value (a UUID) or leave the header out", Header)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%s is %d bytes long; at most %d", Header, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%s holds a non-printable or non-ASCII byte 0x%02x at offset %d", Header, c, i)
		}
	}
	return nil
}

// Hash fingerprints a request from its parts (each length-prefixed, so parts never run into
// each other): the same key with another body is then recognised and refused.
func Hash(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Canonical returns a JSON value with its object keys sorted and insignificant space removed,
// so two bodies that mean the same hash alike; what is not JSON is returned as is.
func Canonical(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep every digit: 1.0 and 1.00 are different requests to an action
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}
