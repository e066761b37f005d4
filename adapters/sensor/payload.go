package sensor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/attune-go/attune/domain/pack"
)

// ErrNotObject is returned by DecodeObject for valid JSON that is not an object.
var ErrNotObject = errors.New("payload is not a JSON object")

// DecodeObject decodes a payload: exactly one JSON object. Numbers stay json.Number so an
// integer is told apart from a float and large integers keep every digit.
func DecodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode payload: unexpected data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotObject
	}
	return obj, nil
}

// FieldError names the payload field that does not satisfy the schema.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("payload field %q: %s", e.Field, e.Reason) }

// ValidatePayload checks payload against a flat payload_schema: required fields, JSON types,
// enum, pattern, bounds and lengths. Fields the schema does not name pass, as in StackStorm,
// so a webhook sender may add fields without breaking rules. The first problem, by field name,
// is returned as a *FieldError so the answer is the same on every call.
func ValidatePayload(schema pack.Params, payload map[string]any) error {
	names := make([]string, 0, len(schema))
	for name := range schema {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		spec := schema[name]
		v, present := payload[name]
		if !present {
			if spec.Required {
				return &FieldError{Field: name, Reason: "is required"}
			}
			continue
		}
		if reason := checkValue(spec, v); reason != "" {
			return &FieldError{Field: name, Reason: reason}
		}
	}
	return nil
}

func checkValue(spec pack.Param, v any) string {
	if spec.Type != "" && !hasType(spec.Type, v) {
		return fmt.Sprintf("want %s, got %s", spec.Type, typeOf(v))
	}
	if len(spec.Enum) > 0 && !inEnum(spec.Enum, v) {
		return fmt.Sprintf("want one of %s", enumText(spec.Enum))
	}
	switch x := v.(type) {
	case string:
		return checkString(spec, x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return fmt.Sprintf("number %s out of range", x)
		}
		if spec.Minimum != nil && f < *spec.Minimum {
			return fmt.Sprintf("%s is below the minimum %v", x, *spec.Minimum)
		}
		if spec.Maximum != nil && f > *spec.Maximum {
			return fmt.Sprintf("%s is above the maximum %v", x, *spec.Maximum)
		}
	}
	return ""
}

func checkString(spec pack.Param, s string) string {
	n := utf8.RuneCountInString(s)
	if spec.MinLength != nil && n < *spec.MinLength {
		return fmt.Sprintf("shorter than %d characters", *spec.MinLength)
	}
	if spec.MaxLength != nil && n > *spec.MaxLength {
		return fmt.Sprintf("longer than %d characters", *spec.MaxLength)
	}
	if spec.Pattern != "" {
		re, err := regexp.Compile(spec.Pattern)
		if err != nil {
			// The loader rejects bad patterns; one that slipped through must not pass
			// everything.
			return fmt.Sprintf("the schema's pattern %q does not compile: %v", spec.Pattern, err)
		}
		if !re.MatchString(s) {
			return fmt.Sprintf("does not match %q", spec.Pattern)
		}
	}
	return ""
}

func hasType(t pack.ParamType, v any) bool {
	switch t {
	case pack.ParamString:
		_, ok := v.(string)
		return ok
	case pack.ParamInteger:
		return isInteger(v)
	case pack.ParamNumber:
		_, ok := v.(json.Number)
		if !ok {
			_, ok = v.(float64)
		}
		return ok
	case pack.ParamBoolean:
		_, ok := v.(bool)
		return ok
	case pack.ParamObject:
		_, ok := v.(map[string]any)
		return ok
	case pack.ParamArray:
		_, ok := v.([]any)
		return ok
	case pack.ParamNull:
		return v == nil
	}
	return false
}

// isInteger accepts 3 and 3.0 (JSON Schema's integer is a number with no fraction).
func isInteger(v any) bool {
	var f float64
	switch x := v.(type) {
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return true
		}
		var err error
		if f, err = x.Float64(); err != nil {
			return false
		}
	case float64:
		f = x
	default:
		return false
	}
	return !math.IsInf(f, 0) && f == math.Trunc(f)
}

func typeOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64:
		if isInteger(v) {
			return "integer"
		}
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// inEnum compares as JSON values, so 1 and 1.0 are equal and key order does not matter.
func inEnum(enum []json.RawMessage, v any) bool {
	want := plain(v)
	for _, raw := range enum {
		var e any
		if json.Unmarshal(raw, &e) == nil && reflect.DeepEqual(e, want) {
			return true
		}
	}
	return false
}

// plain re-decodes v without json.Number, the shape json.Unmarshal gives enum values.
func plain(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func enumText(enum []json.RawMessage) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range enum {
		if i > 0 {
			b.WriteString(", ")
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return b.String()
}
