package pack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Keyword is the schema keyword a value breaks. Every caller checks with the same rules, but
// words a problem for its own reader: the pack loader points at the YAML as written, a
// webhook answers its sender.
type Keyword string

// The keywords a ParamError can name. A problem that is no keyword's (an undeclared
// parameter, a value that is not JSON, a schema that does not compile) has none.
const (
	KeywordRequired  Keyword = "required"
	KeywordImmutable Keyword = "immutable"
	KeywordType      Keyword = "type"
	KeywordEnum      Keyword = "enum"
	KeywordMinLength Keyword = "min_length"
	KeywordMaxLength Keyword = "max_length"
	KeywordPattern   Keyword = "pattern"
	KeywordMinimum   Keyword = "minimum"
	KeywordMaximum   Keyword = "maximum"
	KeywordMinItems  Keyword = "min_items"
	KeywordMaxItems  Keyword = "max_items"
)

// Check reports the first keyword of p that v breaks, in the order type, enum, min_length,
// max_length, pattern, min_items, max_items, minimum, maximum, as a *ParamError about name; nil when v fits. An
// integer-valued number like 2.0 is an integer, as in JSON Schema; lengths count characters.
//
// It does not look into an array's elements: Item gives their spec, so a caller that walks
// its own tree (the pack loader, which reports every element at its own line) can check each
// where it stands. v is JSON as DecodeValue reads it, numbers as json.Number.
func (p Param) Check(name string, v any) *ParamError {
	fail := func(k Keyword, format string, args ...any) *ParamError {
		return &ParamError{Param: name, Keyword: k, Reason: fmt.Sprintf(format, args...)}
	}
	if !fitsType(p.Type, v) {
		return fail(KeywordType, "want %s, got %s", p.Type, p.show(v))
	}
	if len(p.Enum) > 0 && !slices.ContainsFunc(p.Enum, func(e json.RawMessage) bool {
		ev, err := DecodeValue(e)
		return err == nil && equal(ev, v)
	}) {
		if p.Secret {
			return fail(KeywordEnum, "is not one of the allowed values")
		}
		return fail(KeywordEnum, "%s is not one of %s", p.show(v), list(p.Enum))
	}
	switch x := v.(type) {
	case string:
		n := utf8.RuneCountInString(x)
		if p.MinLength != nil && n < *p.MinLength {
			return fail(KeywordMinLength, "is %d characters long, want at least %d", n, *p.MinLength)
		}
		if p.MaxLength != nil && n > *p.MaxLength {
			return fail(KeywordMaxLength, "is %d characters long, want at most %d", n, *p.MaxLength)
		}
		if p.Pattern != "" {
			re, err := regexp.Compile(p.Pattern)
			if err != nil {
				return fail("", "the schema's pattern %q does not compile: %v", p.Pattern, err)
			}
			if !re.MatchString(x) {
				return fail(KeywordPattern, "%s does not match pattern %q", p.show(v), p.Pattern)
			}
		}
	case []any:
		if p.MinItems != nil && len(x) < *p.MinItems {
			return fail(KeywordMinItems, "has %d items, want at least %d", len(x), *p.MinItems)
		}
		if p.MaxItems != nil && len(x) > *p.MaxItems {
			return fail(KeywordMaxItems, "has %d items, want at most %d", len(x), *p.MaxItems)
		}
	case json.Number:
		f, _ := x.Float64() // fitsType parsed it
		if p.Minimum != nil && f < *p.Minimum {
			return fail(KeywordMinimum, "%s is below the minimum %v", p.show(v), *p.Minimum)
		}
		if p.Maximum != nil && f > *p.Maximum {
			return fail(KeywordMaximum, "%s is above the maximum %v", p.show(v), *p.Maximum)
		}
	}
	return nil
}

// Item is the spec of the elements of an array p describes; the zero Param, which any value
// fits, when p has no items. The elements of a secret array are secret.
func (p Param) Item() (Param, error) {
	var item Param
	if len(p.Items) > 0 {
		if err := json.Unmarshal(p.Items, &item); err != nil {
			return Param{}, fmt.Errorf("the schema's items do not decode: %w", err)
		}
	}
	item.Secret = item.Secret || p.Secret
	return item, nil
}

// check is Check, then the elements of an array (name[i]), every one that breaks its spec.
func (p Param) check(name string, v any) []*ParamError {
	if e := p.Check(name, v); e != nil {
		return []*ParamError{e}
	}
	x, isArray := v.([]any)
	if !isArray || len(p.Items) == 0 {
		return nil
	}
	item, err := p.Item()
	if err != nil {
		return []*ParamError{{Param: name, Reason: err.Error()}}
	}
	var out []*ParamError
	for i, e := range x {
		out = append(out, item.check(name+"["+strconv.Itoa(i)+"]", e)...)
	}
	return out
}

// show renders a value for a message: JSON, cut short; only its kind when it is secret.
func (p Param) show(v any) string {
	if p.Secret {
		return "a secret " + KindOf(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<none>" as sent, not "\u003cnone\u003e"
	if err := enc.Encode(v); err != nil {
		return KindOf(v)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	const limit = 60
	if utf8.RuneCountInString(s) > limit {
		return string([]rune(s)[:limit-1]) + "…"
	}
	return s
}

func fitsType(t ParamType, v any) bool {
	switch t {
	case "":
		return true
	case ParamString:
		_, ok := v.(string)
		return ok
	case ParamInteger:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if !strings.ContainsAny(string(n), ".eE") {
			return true // an integer literal, however long
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
	case ParamNumber:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Float64()
		return err == nil
	case ParamBoolean:
		_, ok := v.(bool)
		return ok
	case ParamObject:
		_, ok := v.(map[string]any)
		return ok
	case ParamArray:
		_, ok := v.([]any)
		return ok
	case ParamNull:
		return v == nil
	}
	return false
}

// KindOf names the JSON type of a value DecodeValue read: "integer" for an integer-valued
// number, "number" for any other.
func KindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if fitsType(ParamInteger, x) {
			return "integer"
		}
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

func list(enum []json.RawMessage) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = string(e)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// DecodeValue reads exactly one JSON value the way Check takes it: numbers stay json.Number,
// so an integer too large for a float64 keeps its digits and 2 and 2.0 can be told apart from
// their text.
func DecodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

func sameJSON(a, b json.RawMessage) bool {
	av, err := DecodeValue(a)
	if err != nil {
		return false
	}
	bv, err := DecodeValue(b)
	return err == nil && equal(av, bv)
}

// equal compares decoded JSON values; numbers compare by value (2 equals 2.0).
func equal(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		return err1 == nil && err2 == nil && fx == fy
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
	default:
		return a == b
	}
}
