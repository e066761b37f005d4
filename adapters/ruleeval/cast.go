package ruleeval

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/attune-go/attune/domain/pack"
)

// CastError is a rendered parameter that cannot become the type its action declares.
type CastError struct {
	Param string
	Type  pack.ParamType
	Value any
	Why   string
}

func (e *CastError) Error() string {
	return fmt.Sprintf("parameters.%s: rendered %s, which is not %s as the action declares%s", e.Param, show(e.Value), article(e.Type), e.Why)
}

func article(t pack.ParamType) string {
	if t == pack.ParamInteger || t == pack.ParamObject || t == pack.ParamArray {
		return "an " + string(t)
	}
	return "a " + string(t)
}

// CastParams does what StackStorm does to a rule's rendered parameters before it runs the
// action (st2common/util/casts.py): a string becomes the type the action declares for it —
// "42" an integer, "true" a boolean, a JSON text an object or array. A Jinja template that
// mixes text renders to a string, so without this {{ a }}{{ b }} could never fill an
// integer. A value that is not a string is left alone, except that a string parameter
// receiving an object, list, number or boolean gets its JSON text (StackStorm would pass
// Python's text of it). Parameters the action does not declare pass unchanged.
func CastParams(raw json.RawMessage, schema pack.Params) (json.RawMessage, error) {
	v, err := DecodeJSON(raw)
	if err != nil {
		return nil, err
	}
	params, ok := v.(map[string]any)
	if !ok {
		return raw, nil
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		spec, declared := schema[name]
		if !declared || params[name] == nil {
			continue
		}
		out, why, ok := castTo(params[name], spec.Type)
		if !ok {
			return nil, &CastError{Param: name, Type: spec.Type, Value: params[name], Why: why}
		}
		params[name] = out
	}
	b, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode cast parameters: %w", err)
	}
	return b, nil
}

// castTo casts v to t, or says why it cannot (a suffix for CastError's message).
func castTo(v any, t pack.ParamType) (out any, why string, ok bool) {
	s, isString := v.(string)
	if t == pack.ParamString {
		if isString {
			return s, "", true
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, ": " + err.Error(), false
		}
		return string(b), "", true
	}
	if !isString {
		return v, "", true
	}
	trimmed := strings.TrimSpace(s)
	switch t {
	case pack.ParamInteger:
		if _, err := strconv.ParseInt(trimmed, 10, 64); err != nil {
			return nil, "", false
		}
		return json.Number(trimmed), "", true
	case pack.ParamNumber:
		if _, err := strconv.ParseFloat(trimmed, 64); err != nil {
			return nil, "", false
		}
		return json.Number(trimmed), "", true
	case pack.ParamBoolean:
		switch strings.ToLower(trimmed) {
		case "true":
			return true, "", true
		case "false":
			return false, "", true
		}
		return nil, " (want true or false)", false
	case pack.ParamObject, pack.ParamArray:
		out, err := DecodeJSON([]byte(trimmed))
		if err != nil {
			return nil, " (want JSON text)", false
		}
		_, isObject := out.(map[string]any)
		_, isList := out.([]any)
		if (t == pack.ParamObject && !isObject) || (t == pack.ParamArray && !isList) {
			return nil, " (the JSON text is another kind of value)", false
		}
		return out, "", true
	}
	return v, "", true
}
