package pack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParamError is one parameter that breaks its schema. Its message names the parameter and
// says what was wanted: `parameter "count": want integer, got "abc"`. The value of a secret
// parameter is never shown, only its kind.
type ParamError struct {
	Param  string // the name; an array element is name[i]
	Reason string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Reason // about the parameters as a whole
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Reason)
}

// InvalidParamsError lists every parameter that breaks the schema, sorted by name, so a
// caller fixes them all in one round. errors.As finds each *ParamError.
type InvalidParamsError []*ParamError

func (e InvalidParamsError) Error() string {
	parts := make([]string, len(e))
	for i, p := range e {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap exposes each *ParamError to errors.As.
func (e InvalidParamsError) Unwrap() []error {
	out := make([]error, len(e))
	for i, p := range e {
		out[i] = p
	}
	return out
}

// IsSecret reports whether the parameter called name is declared secret.
func (ps Params) IsSecret(name string) bool { return ps[name].Secret }

// Resolve checks parameters (a JSON object; empty means none) against the schema and
// returns them with the defaults of the parameters not given, as one JSON object with sorted
// keys. It checks that every parameter is declared, every required one is present (given or
// defaulted), an immutable one is not given another value than its default, and every value
// fits its spec: type (an integer-valued number like 2.0 is an integer, as in JSON Schema),
// enum, pattern, minimum/maximum, min_length/max_length (in characters) and the items of an
// array. A failure is an InvalidParamsError; the parameters are then returned with what
// could be applied, so a caller can still record what was asked.
//
// Values must be plaintext: the caller opens sealed secrets before, and seals them again
// after.
func (ps Params) Resolve(given json.RawMessage) (json.RawMessage, error) {
	values := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(given)) > 0 && string(bytes.TrimSpace(given)) != "null" {
		if err := json.Unmarshal(given, &values); err != nil || values == nil {
			return given, InvalidParamsError{{Param: "", Reason: "parameters must be a JSON object"}}
		}
	}
	var errs InvalidParamsError
	for _, name := range slices.Sorted(maps.Keys(values)) {
		spec, declared := ps[name]
		if !declared {
			errs = append(errs, &ParamError{Param: name, Reason: "not a parameter of the action" + known(ps)})
			continue
		}
		if spec.Immutable && spec.Default != nil && !sameJSON(values[name], spec.Default) {
			errs = append(errs, &ParamError{Param: name, Reason: "is immutable: it keeps its default " + string(spec.Default)})
			continue
		}
		v, err := decode(values[name])
		if err != nil {
			errs = append(errs, &ParamError{Param: name, Reason: "not valid JSON"})
			continue
		}
		errs = append(errs, spec.check(name, v)...)
	}
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		if _, ok := values[name]; ok {
			continue
		}
		spec := ps[name]
		switch {
		case spec.Default != nil:
			values[name] = spec.Default
		case spec.Required:
			errs = append(errs, &ParamError{Param: name, Reason: "is required"})
		}
	}
	out, err := json.Marshal(values)
	if err != nil {
		// Every value is JSON that was decoded above or came from the schema.
		return given, InvalidParamsError{{Param: "", Reason: fmt.Sprintf("encode parameters: %v", err)}}
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// check reports where v breaks p.
func (p Param) check(name string, v any) []*ParamError {
	fail := func(format string, args ...any) []*ParamError {
		return []*ParamError{{Param: name, Reason: fmt.Sprintf(format, args...)}}
	}
	if !fitsType(p.Type, v) {
		return fail("want %s, got %s", p.Type, p.show(v))
	}
	if len(p.Enum) > 0 && !slices.ContainsFunc(p.Enum, func(e json.RawMessage) bool {
		ev, err := decode(e)
		return err == nil && equal(ev, v)
	}) {
		if p.Secret {
			return fail("is not one of the allowed values")
		}
		return fail("%s is not one of %s", p.show(v), list(p.Enum))
	}
	switch x := v.(type) {
	case string:
		n := utf8.RuneCountInString(x)
		if p.MinLength != nil && n < *p.MinLength {
			return fail("is %d characters long, want at least %d", n, *p.MinLength)
		}
		if p.MaxLength != nil && n > *p.MaxLength {
			return fail("is %d characters long, want at most %d", n, *p.MaxLength)
		}
		if p.Pattern != "" {
			re, err := regexp.Compile(p.Pattern)
			if err != nil {
				return fail("the schema's pattern %q does not compile: %v", p.Pattern, err)
			}
			if !re.MatchString(x) {
				return fail("%s does not match pattern %q", p.show(v), p.Pattern)
			}
		}
	case json.Number:
		f, _ := x.Float64() // fitsType parsed it
		if p.Minimum != nil && f < *p.Minimum {
			return fail("%s is below the minimum %v", p.show(v), *p.Minimum)
		}
		if p.Maximum != nil && f > *p.Maximum {
			return fail("%s is above the maximum %v", p.show(v), *p.Maximum)
		}
	case []any:
		if len(p.Items) == 0 {
			return nil
		}
		var item Param
		if err := json.Unmarshal(p.Items, &item); err != nil {
			return fail("the schema's items do not decode: %v", err)
		}
		item.Secret = item.Secret || p.Secret
		var out []*ParamError
		for i, e := range x {
			out = append(out, item.check(name+"["+strconv.Itoa(i)+"]", e)...)
		}
		return out
	}
	return nil
}

// show renders a value for a message: JSON, cut short; only its kind when it is secret.
func (p Param) show(v any) string {
	if p.Secret {
		return "a secret " + kind(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return kind(v)
	}
	const limit = 60
	if s := string(b); utf8.RuneCountInString(s) > limit {
		return string([]rune(s)[:limit-1]) + "…"
	}
	return string(b)
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

func kind(v any) string {
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

func known(ps Params) string {
	if len(ps) == 0 {
		return " (it takes none)"
	}
	return " (it takes " + strings.Join(slices.Sorted(maps.Keys(ps)), ", ") + ")"
}

func list(enum []json.RawMessage) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = string(e)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// decode reads JSON keeping numbers as json.Number, so an integer too large for a float64
// keeps its digits and 2 and 2.0 can be told apart from their text.
func decode(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func sameJSON(a, b json.RawMessage) bool {
	av, err := decode(a)
	if err != nil {
		return false
	}
	bv, err := decode(b)
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
