package runtime

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

type collected struct {
	mu     sync.Mutex
	pieces map[string][]string
}

func (c *collected) Output(stream string, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pieces == nil {
		c.pieces = map[string][]string{}
	}
	c.pieces[stream] = append(c.pieces[stream], string(p))
}

func (c *collected) text(stream string) string { return strings.Join(c.pieces[stream], "") }

// A secret cut in two (or more) by the pipe's pieces is masked all the same, and no piece
// passed on holds any part of it that could be joined up again.
func TestMaskOutputMasksASecretSplitAcrossPieces(t *testing.T) {
	const token = "s3cr3t-t0ken"
	params := []byte(`{"token":"` + token + `","name":"n"}`)
	b64 := base64.StdEncoding.EncodeToString([]byte(token))
	text := "start " + token + " middle " + b64 + " s3cr3t-not end\n"
	for size := 1; size <= len(text); size++ {
		var c collected
		m := MaskOutput(&c, params, []string{"token"})
		for i := 0; i < len(text); i += size {
			m.Output(Stdout, []byte(text[i:min(i+size, len(text))]))
		}
		m.Flush()
		want := "start ******** middle ******** s3cr3t-not end\n"
		if got := c.text(Stdout); got != want {
			t.Fatalf("pieces of %d bytes: got %q, want %q", size, got, want)
		}
		for _, p := range c.pieces[Stdout] {
			if strings.Contains(p, "s3cr3t-t") {
				t.Fatalf("pieces of %d bytes: a piece holds the secret's start: %q", size, p)
			}
		}
	}
}

// Without a secret, output passes on at once (nothing held back but a cut rune), cleaned of
// what the log refuses.
func TestMaskOutputPassesOnAtOnceAndKeepsRunesWhole(t *testing.T) {
	var c collected
	m := MaskOutput(&c, nil, nil)
	m.Output(Stdout, []byte("line one\n"))
	if got := c.text(Stdout); got != "line one\n" {
		t.Fatalf("after the first line: %q, want it passed on at once", got)
	}
	e := []byte("é\x00\n") // é is two bytes: cut it in two
	m.Output(Stderr, e[:1])
	if got := c.text(Stderr); got != "" {
		t.Fatalf("half a rune passed on: %q", got)
	}
	m.Output(Stderr, e[1:])
	m.Flush()
	if got := c.text(Stderr); got != "é\uFFFD\n" {
		t.Fatalf("stderr %q, want the rune whole and the NUL replaced", got)
	}
}
