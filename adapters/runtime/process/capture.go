package process

import (
	"strings"
	"unicode/utf8"
)

// capture keeps the first max bytes written to it and drops the rest (still accepting them,
// so the child never blocks on a full pipe), and optionally the last tail bytes, which hold
// the error of a failed script however long its output.
type capture struct {
	max, tailMax int
	head         []byte
	tail         []byte
	truncated    bool
}

func newCapture(max, tail int) *capture { return &capture{max: max, tailMax: tail} }

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - len(c.head); room >= len(p) {
		c.head = append(c.head, p...)
	} else {
		c.head = append(c.head, p[:max(room, 0)]...)
		c.truncated = true
	}
	if c.tailMax > 0 {
		c.tail = append(c.tail, p...)
		if over := len(c.tail) - c.tailMax; over > 0 {
			c.tail = append(c.tail[:0], c.tail[over:]...)
		}
	}
	return len(p), nil
}

// String is the captured head; a rune the cap cut in two is dropped.
func (c *capture) String() string {
	b := c.head
	if c.truncated {
		b = trimPartialRune(b)
	}
	return string(b)
}

// tailString is the end of the output, trimmed of blank space, starting on a rune.
func (c *capture) tailString() string {
	b := c.tail
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	return strings.TrimSpace(string(b))
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}
