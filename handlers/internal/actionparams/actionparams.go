// Package actionparams prepares the parameters of an execution, for every use case that
// requests one (an enforcement, the API, a re-run): sealed secrets opened in memory, the
// action's defaults applied, the whole validated against the action's schema, and the secret
// values sealed again before anything is appended.
package actionparams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/pack"
)

// Prepare returns the parameters to record in ExecutionRequested. invalid is the schema's
// verdict, a pack.InvalidParamsError naming every offending parameter; params then still
// hold what could be applied, for the record. err is a failure to open or seal a secret,
// which no retry fixes (a wrong key, a tampered value).
//
// A sealed value is accepted only for a secret parameter, and only where it was sealed for:
// that parameter of action, or any parameter of an action in from (a workflow's children take
// their parent's secrets; a re-run takes its original's). A viewer can copy any sealed value
// from the log, so one accepted elsewhere would be opened for an action of the caller's
// choosing and come back in plaintext in the result of an action that echoes it. Values
// sealed without a binding by earlier versions are not accepted in a new request: the
// sender must give the secret again.
func Prepare(box *secret.Box, action string, schema pack.Params, given json.RawMessage, from ...string) (params json.RawMessage, invalid, err error) {
	var values map[string]json.RawMessage
	if t := bytes.TrimSpace(given); len(t) > 0 && string(t) != "null" {
		if err := json.Unmarshal(t, &values); err != nil || values == nil {
			return json.RawMessage("{}"), pack.InvalidParamsError{{Reason: "parameters must be a JSON object"}}, nil
		}
	}
	var sealedErrs pack.InvalidParamsError
	for _, name := range slices.Sorted(maps.Keys(values)) {
		v := values[name]
		if !secret.IsSealed(v) {
			continue
		}
		if !schema.IsSecret(name) {
			sealedErrs = append(sealedErrs, &pack.ParamError{Param: name, Reason: "a sealed value is accepted only for a secret parameter"})
			delete(values, name)
			continue
		}
		plain, bound, err := box.Open(v)
		if err != nil {
			return nil, nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		switch {
		case bound == secret.Binding{Action: action, Param: name} || slices.Contains(from, bound.Action) && !bound.Legacy():
		case bound.Legacy():
			sealedErrs = append(sealedErrs, &pack.ParamError{Param: name, Reason: "this sealed value was recorded without a binding by an earlier version of attune; send the secret itself again"})
			delete(values, name)
			continue
		default:
			sealedErrs = append(sealedErrs, &pack.ParamError{Param: name, Reason: fmt.Sprintf("this sealed value was sealed for %s and opens only there", bound)})
			delete(values, name)
			continue
		}
		values[name] = plain
	}
	plain, err := json.Marshal(values)
	if err != nil {
		return nil, nil, fmt.Errorf("encode parameters: %w", err)
	}
	resolved, resolveErr := schema.Resolve(plain)
	sealed, err := box.SealParams(resolved, action, schema.IsSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("seal secret parameters: %w", err)
	}
	errs, _ := resolveErr.(pack.InvalidParamsError)
	for _, e := range errs {
		// A parameter refused for its sealed value is not also "required".
		if !slices.ContainsFunc(sealedErrs, func(s *pack.ParamError) bool { return s.Param == e.Param }) {
			sealedErrs = append(sealedErrs, e)
		}
	}
	if len(sealedErrs) > 0 {
		return sealed, sealedErrs, nil
	}
	return sealed, nil, nil
}
