// Package safetext finds text that the read models cannot hold, before it reaches the
// immutable log: a NUL character (PostgreSQL's text and jsonb refuse it, though the log's json
// column takes the \u0000 escape), invalid UTF-8 or a lone UTF-16 surrogate escape, and
// strings longer than a btree index entry allows where a read model indexes them. One bad
// event in the log would otherwise stop every projection that writes it, for good.
package safetext

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on the text a read model stores in an indexed column, in bytes of UTF-8. A btree
// entry must fit in about a third of a page (2,704 bytes); these stay far below it and far
// above anything a person types.
const (
	MaxTraceTagBytes = 256 // metadata.trace_tag: executions_trace_tag
	MaxIDBytes       = 256 // metadata.correlation_id, causation_id, actor
	MaxRefBytes      = 512 // refs and names: pack, action, rule, trigger, task, worker …
	MaxStreamIDBytes = 512 // the stream id: streams, causality
)

// The codes of an *Error: stable, the API answers them as is.
const (
	CodeInvalidText = "invalid_text" // NUL, invalid UTF-8, a lone surrogate escape
	CodeTooLong     = "too_long"     // longer than the field's limit
)

// ErrUnsafeText is matched (errors.Is) by every *Error.
var ErrUnsafeText = errors.New("text a read model cannot hold")

// Error names the field at fault: a JSON Pointer ("/data/payload/msg", "/metadata/trace_tag",
// "/parameters/msg") into the document that was checked.
type Error struct {
	Field  string
	Code   string // CodeInvalidText or CodeTooLong
	Reason string
	Limit  int // bytes; CodeTooLong only
}

func (e *Error) Error() string {
	field := e.Field
	if field == "" {
		field = "the document"
	}
	return fmt.Sprintf("%s: %s", field, e.Reason)
}

// Is makes errors.Is(err, ErrUnsafeText) hold.
func (e *Error) Is(target error) bool { return target == ErrUnsafeText }

// Limit returns the byte limit of the string at path (JSON Pointer tokens), 0 for none.
type Limit func(path []string) int

// String checks one string field: valid UTF-8, no NUL, at most limit bytes (0: unbounded).
func String(field, s string, limit int) *Error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return &Error{Field: field, Code: CodeInvalidText, Reason: fmt.Sprintf("NUL character at byte %d", i)}
	}
	if !utf8.ValidString(s) {
		return &Error{Field: field, Code: CodeInvalidText, Reason: fmt.Sprintf("invalid UTF-8 at byte %d", invalidAt(s))}
	}
	if limit > 0 && len(s) > limit {
		return &Error{Field: field, Code: CodeTooLong, Limit: limit, Reason: fmt.Sprintf("%d bytes, over the limit of %d", len(s), limit)}
	}
	return nil
}

func invalidAt(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(s)
}

// JSON checks every key and string value of the JSON document raw, whose fields are named
// under base (a JSON Pointer prefix, "" for the root): no NUL (raw or as \u0000), valid
// UTF-8, no lone surrogate escape, and strings within limit (nil: unbounded). It returns the
// first problem in document order. A document that is not JSON is reported as invalid text
// at the point the scan stopped; callers that parse it anyway report their own error first.
func JSON(raw []byte, base string, limit Limit) *Error {
	s := scanner{raw: raw, base: base, limit: limit}
	s.space()
	if err := s.value(); err != nil {
		return err
	}
	return nil
}

type scanner struct {
	raw   []byte
	i     int
	base  string
	path  []string
	limit Limit
}

func (s *scanner) field() string { return s.base + Pointer(s.path) }

func (s *scanner) malformed() *Error {
	return &Error{Field: s.field(), Code: CodeInvalidText, Reason: fmt.Sprintf("not JSON at byte %d", s.i)}
}

func (s *scanner) space() {
	for s.i < len(s.raw) && (s.raw[s.i] == ' ' || s.raw[s.i] == '\t' || s.raw[s.i] == '\n' || s.raw[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) value() *Error {
	if s.i >= len(s.raw) {
		return s.malformed()
	}
	switch s.raw[s.i] {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		_, n, err := s.str(false)
		if err != nil {
			return err
		}
		if s.limit != nil {
			if max := s.limit(s.path); max > 0 && n > max {
				return &Error{Field: s.field(), Code: CodeTooLong, Limit: max, Reason: fmt.Sprintf("%d bytes, over the limit of %d", n, max)}
			}
		}
		return nil
	}
	// A number, true, false or null: nothing textual to check.
	for s.i < len(s.raw) && !strings.ContainsRune(" \t\r\n,]}", rune(s.raw[s.i])) {
		if s.raw[s.i] == 0 || s.raw[s.i] >= utf8.RuneSelf {
			return &Error{Field: s.field(), Code: CodeInvalidText, Reason: fmt.Sprintf("unexpected byte %#x at byte %d", s.raw[s.i], s.i)}
		}
		s.i++
	}
	return nil
}

func (s *scanner) object() *Error {
	s.i++ // {
	s.space()
	if s.i < len(s.raw) && s.raw[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.space()
		if s.i >= len(s.raw) || s.raw[s.i] != '"' {
			return s.malformed()
		}
		key, _, err := s.str(true)
		if err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.raw) || s.raw[s.i] != ':' {
			return s.malformed()
		}
		s.i++
		s.space()
		s.path = append(s.path, key)
		if err := s.value(); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		if done, err := s.separator('}'); done || err != nil {
			return err
		}
	}
}

func (s *scanner) array() *Error {
	s.i++ // [
	s.space()
	if s.i < len(s.raw) && s.raw[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		s.space()
		s.path = append(s.path, strconv.Itoa(n))
		if err := s.value(); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		if done, err := s.separator(']'); done || err != nil {
			return err
		}
	}
}

// separator reads what follows a member or an element: a comma (another follows) or the
// closing bracket (done).
func (s *scanner) separator(closing byte) (done bool, err *Error) {
	s.space()
	if s.i >= len(s.raw) {
		return true, s.malformed()
	}
	switch s.raw[s.i] {
	case ',':
		s.i++
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return true, s.malformed()
}

// str reads the string at s.i and returns its length decoded, in bytes of UTF-8, and, when
// keep is set (a key: it names the path), the string itself. The problems it reports are
// named at the string's own path: for a key, the path of the object that holds it.
func (s *scanner) str(keep bool) (string, int, *Error) {
	s.i++ // "
	var b strings.Builder
	n := 0
	for s.i < len(s.raw) {
		c := s.raw[s.i]
		switch {
		case c == '"':
			s.i++
			return b.String(), n, nil
		case c == 0:
			return "", 0, s.invalid("NUL byte")
		case c == '\\':
			r, err := s.escape()
			if err != nil {
				return "", 0, err
			}
			n += utf8.RuneLen(r)
			if keep {
				b.WriteRune(r)
			}
		case c < utf8.RuneSelf:
			n++
			if keep {
				b.WriteByte(c)
			}
			s.i++
		default:
			r, size := utf8.DecodeRune(s.raw[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return "", 0, s.invalid("invalid UTF-8")
			}
			n += size
			if keep {
				b.Write(s.raw[s.i : s.i+size])
			}
			s.i += size
		}
	}
	return "", 0, s.malformed()
}

func (s *scanner) invalid(what string) *Error {
	return &Error{Field: s.field(), Code: CodeInvalidText, Reason: fmt.Sprintf("%s at byte %d", what, s.i)}
}

// escape reads the escape at s.i and returns the character it stands for.
func (s *scanner) escape() (rune, *Error) {
	if s.i+1 >= len(s.raw) {
		return 0, s.malformed()
	}
	if s.raw[s.i+1] != 'u' {
		r, ok := simpleEscape(s.raw[s.i+1])
		if !ok {
			return 0, s.malformed()
		}
		s.i += 2
		return r, nil
	}
	r, ok := s.hex4(s.i)
	if !ok {
		return 0, s.malformed()
	}
	switch {
	case r == 0:
		return 0, s.invalid(`NUL character (\u0000)`)
	case utf16.IsSurrogate(r):
		lo, ok := s.hex4(s.i + 6)
		if r >= 0xDC00 || !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, s.invalid("lone UTF-16 surrogate escape")
		}
		s.i += 12
		return utf16.DecodeRune(r, lo), nil
	}
	s.i += 6
	return r, nil
}

// simpleEscape is the character of a one-letter escape (\n, \", …).
func simpleEscape(c byte) (rune, bool) {
	switch c {
	case '"', '\\', '/':
		return rune(c), true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// hex4 reads the escape \uXXXX at i.
func (s *scanner) hex4(i int) (rune, bool) {
	if i+6 > len(s.raw) || s.raw[i] != '\\' || s.raw[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.raw[i+2:i+6]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// Pointer renders RFC 6901 JSON Pointer tokens.
func Pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
