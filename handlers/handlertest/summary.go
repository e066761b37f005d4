package handlertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/attune-go/attune/adapters/eventstore"
)

// maxValue caps a rendered value: a script names facts, it does not dump output.
const maxValue = 100

// Summary renders one event as a line of a script: its type, then the payload's top-level
// fields as key=value in the order the payload declares them (so a line is stable across
// runs), a trailing "_id" dropped from keys, empty values skipped. Strings with spaces are
// quoted; objects and arrays appear as compact JSON; anything longer than 100 characters is
// cut with "…".
//
//	ExecutionStatusChanged execution=e1 from=canceling to=abandoned reason="worker w1 left"
func Summary(r eventstore.Recorded) string {
	var b strings.Builder
	b.WriteString(r.Type)
	fields, err := topLevel(r.Data)
	if err != nil {
		fmt.Fprintf(&b, " data=%s", render(r.Data))
		return b.String()
	}
	for _, f := range fields {
		if isEmpty(f.value) {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", strings.TrimSuffix(f.key, "_id"), render(f.value))
	}
	return b.String()
}

// Script renders events one Summary per line.
func Script(events []eventstore.Recorded) string {
	lines := make([]string, len(events))
	for i, e := range events {
		lines[i] = Summary(e)
	}
	return strings.Join(lines, "\n")
}

type field struct {
	key   string
	value json.RawMessage
}

// topLevel returns the fields of a JSON object in document order, which encoding/json
// cannot do through a map.
func topLevel(data []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("payload is not a JSON object")
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{key: key, value: v})
	}
	return out, nil
}

func isEmpty(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", `""`, "{}", "[]":
		return true
	}
	return false
}

func render(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		s = cut(s)
		if s == "" || strings.ContainsAny(s, " \t\n\"=") {
			return strconv.Quote(s)
		}
		return s
	}
	var compact bytes.Buffer
	if json.Compact(&compact, v) != nil {
		return cut(string(v))
	}
	return cut(compact.String())
}

func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxValue {
		return s
	}
	return string([]rune(s)[:maxValue-1]) + "…"
}
