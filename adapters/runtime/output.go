package runtime

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"
)

// The streams of an action's output.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// OutputSink receives an action's output while it runs, in the pieces the process writes
// (Request.Output). Calls for one stream come in order; stdout and stderr may come from two
// goroutines at once. It must not block for long: the action's pipe waits on it.
type OutputSink interface {
	Output(stream string, p []byte)
}

// MaskOutput wraps sink so that the values of the secret parameters (and their base64
// spellings, as Redact masks them in the final outcome) never reach it, and the text it gets
// is what the log would take (Clean: NUL and invalid UTF-8 become U+FFFD).
//
// A secret may be cut in two by the pipe's pieces: the end of a piece that could begin a
// secret (a prefix of one) is held back until the next piece says whether it does, or until
// Flush. An incomplete UTF-8 sequence at the end of a piece is held back too. Without
// secrets only the UTF-8 hold-back applies.
func MaskOutput(sink OutputSink, params json.RawMessage, secrets []string) *MaskedOutput {
	pairs := secretValues(params, secrets)
	m := &MaskedOutput{sink: sink, pending: map[string][]byte{}}
	for i := 0; i < len(pairs); i += 2 {
		m.secrets = append(m.secrets, []byte(pairs[i])) // longest first
	}
	return m
}

// MaskedOutput is the OutputSink MaskOutput returns.
type MaskedOutput struct {
	sink    OutputSink
	secrets [][]byte

	mu      sync.Mutex
	pending map[string][]byte // per stream, what is held back
}

var _ OutputSink = (*MaskedOutput)(nil)

// Output masks and passes on what of p (after what was held back) is safe to pass on.
func (m *MaskedOutput) Output(stream string, p []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := append(m.pending[stream], p...)
	out, rest := m.cut(b, false)
	m.pending[stream] = append([]byte(nil), rest...)
	if len(out) > 0 {
		m.sink.Output(stream, []byte(cleanText(string(out))))
	}
}

// Flush passes on what is held back: the run is over, no secret can follow.
func (m *MaskedOutput) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, stream := range []string{Stdout, Stderr} {
		if b := m.pending[stream]; len(b) > 0 {
			out, _ := m.cut(b, true)
			delete(m.pending, stream)
			m.sink.Output(stream, []byte(cleanText(string(out))))
		}
	}
}

// cut masks b from its start and stops where the rest could still become a secret (or a
// rune) with more input; final masks everything.
func (m *MaskedOutput) cut(b []byte, final bool) (out, rest []byte) {
	out = make([]byte, 0, len(b))
	i := 0
scan:
	for i < len(b) {
		for _, s := range m.secrets {
			if bytes.HasPrefix(b[i:], s) {
				out = append(out, Mask...)
				i += len(s)
				continue scan
			}
		}
		if !final && m.couldBegin(b[i:]) {
			break
		}
		out = append(out, b[i])
		i++
	}
	if !final && i == len(b) {
		// Hold back a rune the piece cut in two.
		if t := trailingPartialRune(out); t > 0 {
			out, i = out[:len(out)-t], i-t
		}
	}
	return out, b[i:]
}

// couldBegin says whether t is a proper prefix of a secret.
func (m *MaskedOutput) couldBegin(t []byte) bool {
	for _, s := range m.secrets {
		if len(t) < len(s) && bytes.HasPrefix(s, t) {
			return true
		}
	}
	return false
}

// trailingPartialRune is how many bytes at the end of b begin a rune not yet complete.
func trailingPartialRune(b []byte) int {
	for n := 1; n < utf8.UTFMax && n <= len(b); n++ {
		if c := b[len(b)-n]; utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
