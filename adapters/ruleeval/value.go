package ruleeval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeJSON decodes raw into the value shapes every part of this package works on:
// map[string]any, []any, string, bool, nil, and numbers as int when the literal is an integer
// that fits, float64 otherwise. Integers stay int (not float64 as encoding/json would have
// it) so that "{{ event.payload.count }}" renders 42, not 42.0, and a 19-digit id survives.
// Empty raw decodes to nil.
func DecodeJSON(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode JSON: trailing data after the value")
	}
	return normalize(v), nil
}

// decodeObject is DecodeJSON for a value that must be an object (a pack's config).
func decodeObject(raw []byte, what string) (map[string]any, error) {
	v, err := DecodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return m, nil
	default:
		return nil, fmt.Errorf("%s must be a JSON object, got %s", what, kindOf(v))
	}
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(i)
		}
		f, _ := strconv.ParseFloat(string(x), 64) // the decoder validated the literal
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	default:
		return v
	}
}

// number reports v as a float64 when it is any Go number (values from System or from an
// expression may be int64, uint8 …, not only the int and float64 of DecodeJSON).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// numeric is number, also reading a string that holds a number: a webhook form or a sensor
// may send "42" where the rule says 42, and the brief asks for numbers to compare
// numerically whatever their JSON form.
func numeric(v any) (float64, bool) {
	if f, ok := number(v); ok {
		return f, true
	}
	if s, ok := v.(string); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}

// equal is the equality of the equals operator: numbers numerically (a numeric string
// against a number too), maps and lists element by element, everything else by value.
func equal(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := numeric(b)
		return ok && fa == fb
	}
	if fb, ok := number(b); ok {
		fa, ok := numeric(a)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// text is a scalar as the string operators read it: strings as they are, numbers and
// booleans in their JSON form (so startswith "4" matches the status code 404). Maps, lists
// and null have no text.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	}
	if _, ok := number(v); ok {
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
	return "", false
}

// kindOf names v's JSON type for messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if _, ok := number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

// maxShown caps how much of a value an explanation quotes: a whole payload in a log line
// hides the one field that mattered.
const maxShown = 80

// show renders v for an explanation: strings single-quoted (the way rule files write them),
// everything else as JSON, long values cut.
func show(v any) string {
	var s string
	if str, ok := v.(string); ok {
		if strings.ContainsAny(str, "'\n\\") {
			s = strconv.Quote(str)
		} else {
			s = "'" + str + "'"
		}
	} else if b, err := json.Marshal(v); err == nil {
		s = string(b)
	} else {
		s = fmt.Sprintf("%v", v)
	}
	if utf8.RuneCountInString(s) > maxShown {
		r := []rune(s)
		s = string(r[:maxShown-1]) + "…"
	}
	return s
}
