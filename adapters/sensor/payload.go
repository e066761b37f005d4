package sensor

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/paramschema"

	"github.com/attune-go/attune/domain/pack"
)

// ErrNotObject is returned by DecodeObject for valid JSON that is not an object.
var ErrNotObject = errors.New("payload is not a JSON object")

// DecodeObject decodes a payload: exactly one JSON object. Numbers stay json.Number so an
// integer is told apart from a float and large integers keep every digit.
func DecodeObject(raw []byte) (map[string]any, error) {
	v, err := pack.DecodeValue(raw)
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
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

// ValidatePayload checks payload (as DecodeObject gives it) against a flat payload_schema with
// pack's rules (Params.Validate): required fields, JSON types, enum, pattern, bounds, lengths
// and array items. Fields the schema does not name pass, as in StackStorm, so a webhook
// sender may add fields without breaking rules. The first problem, by field name, is returned
// as a *FieldError so the answer is the same on every call.
func ValidatePayload(schema pack.Params, payload map[string]any) error {
	errs, _ := schema.Validate(payload).(pack.InvalidParamsError) // its only kind of error
	if len(errs) == 0 {
		// The rest of a StackStorm field's JSON Schema (nested properties, oneOf, …).
		for _, name := range slices.Sorted(maps.Keys(schema)) {
			spec := schema[name]
			if v, given := payload[name]; given && v != nil && spec.Schema != nil {
				if err := paramschema.Check(spec.Schema, v); err != nil {
					return &FieldError{Field: name, Reason: err.Error()}
				}
			}
		}
		return nil
	}
	first := errs[0]
	fe := &FieldError{Field: first.Param, Reason: first.Reason}
	if spec, isField := schema[first.Param]; isField { // not an array element (name[i])
		fe.Reason = reason(first, spec, payload[first.Param])
	}
	return fe
}

// reason words a problem of a field for the sender of the payload: the kind of value it sent
// rather than the value (it has it), and what the schema wants.
func reason(e *pack.ParamError, spec pack.Param, v any) string {
	switch e.Keyword {
	case pack.KeywordType:
		if n, isNumber := v.(json.Number); isNumber && spec.Type == pack.ParamNumber {
			return fmt.Sprintf("number %s out of range", n) // 1e400: JSON, but no float64
		}
		return fmt.Sprintf("want %s, got %s", spec.Type, pack.KindOf(v))
	case pack.KeywordEnum:
		values := make([]string, len(spec.Enum))
		for i, raw := range spec.Enum {
			values[i] = string(raw)
		}
		return "want one of [" + strings.Join(values, ", ") + "]"
	case pack.KeywordMinLength:
		return fmt.Sprintf("shorter than %d characters", *spec.MinLength)
	case pack.KeywordMaxLength:
		return fmt.Sprintf("longer than %d characters", *spec.MaxLength)
	case pack.KeywordPattern:
		return fmt.Sprintf("does not match %q", spec.Pattern)
	}
	return e.Reason
}
