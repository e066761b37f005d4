package pack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ParamError is one parameter that breaks its schema. Its message names the parameter and
// says what was wanted: `parameter "count": want integer, got "abc"`. The value of a secret
// parameter is never shown, only its kind.
type ParamError struct {
	Param   string  // the name; an array element is name[i]
	Keyword Keyword // the keyword broken; empty for a problem that is no keyword's
	Reason  string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Reason // about the parameters as a whole
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Reason)
}

// InvalidParamsError lists every parameter that breaks the schema, so a caller fixes them all
// in one round. errors.As finds each *ParamError.
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
// fits its spec (Check), the items of an array included. A failure is an InvalidParamsError,
// the given parameters by name, then the missing ones; the parameters are then returned with
// what could be applied, so a caller can still record what was asked.
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
		if spec.Immutable && spec.Default == nil {
			// StackStorm lets a parameter be immutable without a default: nobody may set it.
			errs = append(errs, &ParamError{Param: name, Keyword: KeywordImmutable, Reason: "is immutable and has no default: it cannot be given"})
			continue
		}
		if spec.Immutable && spec.Default != nil && !sameJSON(values[name], spec.Default) {
			errs = append(errs, &ParamError{Param: name, Keyword: KeywordImmutable, Reason: "is immutable: it keeps its default " + string(spec.Default)})
			continue
		}
		v, err := DecodeValue(values[name])
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
			errs = append(errs, required(name))
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

// Validate checks values (decoded by DecodeValue) as they are, defaults not applied: every
// required parameter present and every declared one fitting its spec (Check), the items of
// an array included. Names the schema does not declare pass: a trigger's payload may carry
// more than its schema names, so a sender can add fields without breaking rules. A failure is
// an InvalidParamsError in name order, so its first problem is the same on every call.
func (ps Params) Validate(values map[string]any) error {
	var errs InvalidParamsError
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		v, present := values[name]
		switch {
		case present:
			errs = append(errs, ps[name].check(name, v)...)
		case ps[name].Required:
			errs = append(errs, required(name))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func required(name string) *ParamError {
	return &ParamError{Param: name, Keyword: KeywordRequired, Reason: "is required"}
}

func known(ps Params) string {
	if len(ps) == 0 {
		return " (it takes none)"
	}
	return " (it takes " + strings.Join(slices.Sorted(maps.Keys(ps)), ", ") + ")"
}
