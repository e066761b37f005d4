package runtime

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
)

// Mask replaces a secret value wherever an outcome would show it.
const Mask = "********"

// Redact masks, in the output, result and reason of o, every value of the secret parameters
// named by secrets: an action that prints its token must not write it into the log, which is
// immutable. Strings are masked wherever they occur, also inside longer text; a secret object
// or array has each of its strings and numbers masked.
//
// Output is capped before it is masked, so a secret cut in two by the cap is not recognised.
// Base64 spellings of a secret are masked as well; a secret encoded together with other text
// (base64 of "user:token") is not recognised.
func Redact(o Outcome, params json.RawMessage, secrets []string) Outcome {
	values := secretValues(params, secrets)
	if len(values) == 0 {
		return o
	}
	r := strings.NewReplacer(values...)
	o.Stdout = r.Replace(o.Stdout)
	o.Stderr = r.Replace(o.Stderr)
	o.Reason = r.Replace(o.Reason)
	o.Result = redactJSON(o.Result, r)
	return o
}

// secretValues returns the replacer pairs (value, Mask) of the secrets' values, longest first
// so that a secret containing another is masked whole.
func secretValues(params json.RawMessage, secrets []string) []string {
	if len(secrets) == 0 || len(params) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(params, &fields); err != nil {
		return nil
	}
	var found []string
	for _, name := range secrets {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if d.Decode(&v) == nil {
			found = leaves(v, found)
		}
	}
	// An action that prints its token base64-encoded (an Authorization header, a debug dump)
	// leaks it as surely as in plaintext: mask every base64 spelling of it too.
	for _, v := range found {
		b := []byte(v)
		found = append(found, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
	}
	slices.SortFunc(found, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	found = slices.Compact(found)
	pairs := make([]string, 0, 2*len(found))
	for _, s := range found {
		pairs = append(pairs, s, Mask)
	}
	return pairs
}

// leaves appends the non-empty strings and numbers inside v.
func leaves(v any, acc []string) []string {
	switch v := v.(type) {
	case string:
		if v != "" {
			acc = append(acc, v)
		}
	case json.Number:
		acc = append(acc, v.String())
	case []any:
		for _, e := range v {
			acc = leaves(e, acc)
		}
	case map[string]any:
		for _, e := range v {
			acc = leaves(e, acc)
		}
	}
	return acc
}

// redactJSON masks inside the decoded strings of a JSON value, so that a secret holding
// characters JSON escapes (quotes, newlines) is found too; text that is not JSON is masked as
// text. A result without secrets is returned as it was.
func redactJSON(raw json.RawMessage, r *strings.Replacer) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return json.RawMessage(r.Replace(string(raw)))
	}
	v, changed := mask(v, r)
	if !changed {
		return raw
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return json.RawMessage(r.Replace(string(raw)))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// mask returns v with its strings, numbers and keys masked, and whether anything was.
func mask(v any, r *strings.Replacer) (any, bool) {
	switch v := v.(type) {
	case string:
		s := r.Replace(v)
		return s, s != v
	case json.Number:
		if s := r.Replace(v.String()); s != v.String() {
			return s, true
		}
		return v, false
	case []any:
		changed := false
		for i, e := range v {
			var c bool
			v[i], c = mask(e, r)
			changed = changed || c
		}
		return v, changed
	case map[string]any:
		m := make(map[string]any, len(v))
		changed := false
		for k, e := range v {
			masked, c := mask(e, r)
			mk := r.Replace(k)
			m[mk] = masked
			changed = changed || c || mk != k
		}
		return m, changed
	}
	return v, false
}
