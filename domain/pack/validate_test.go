package pack_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/attune-go/attune/domain/pack"
)

func ptr[T any](v T) *T { return &v }

func schema() pack.Params {
	return pack.Params{
		"message": {Type: pack.ParamString, Required: true},
		"count":   {Type: pack.ParamInteger, Default: json.RawMessage(`3`), Minimum: ptr(1.0), Maximum: ptr(10.0)},
		"ratio":   {Type: pack.ParamNumber},
		"verbose": {Type: pack.ParamBoolean},
		"headers": {Type: pack.ParamObject},
		"hosts":   {Type: pack.ParamArray, Items: json.RawMessage(`{"type":"string","pattern":"^[a-z.]+$"}`)},
		"method":  {Type: pack.ParamString, Enum: []json.RawMessage{json.RawMessage(`"GET"`), json.RawMessage(`"POST"`)}},
		"url":     {Type: pack.ParamString, Pattern: "^https?://"},
		"code":    {Type: pack.ParamString, MinLength: ptr(2), MaxLength: ptr(4)},
		"region":  {Type: pack.ParamString, Immutable: true, Default: json.RawMessage(`"eu"`)},
		"token":   {Type: pack.ParamString, Secret: true, Enum: []json.RawMessage{json.RawMessage(`"s3cr3t"`)}},
		"pin":     {Type: pack.ParamInteger, Secret: true},
		"body":    {},
	}
}

func TestResolveAppliesDefaultsAndAcceptsValidValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, given, want string
	}{
		{"defaults fill what is not given",
			`{"message":"hi"}`,
			`{"count":3,"message":"hi","region":"eu"}`},
		{"given values win over defaults; 2.0 is an integer",
			`{"message":"hi","count":2.0}`,
			`{"count":2.0,"message":"hi","region":"eu"}`},
		{"every type and keyword satisfied",
			`{"message":"ü","ratio":0.5,"verbose":true,"headers":{"a":"b"},"hosts":["a.b"],"method":"POST","url":"https://x","code":"äbc","region":"eu","token":"s3cr3t","pin":1234,"body":[1,{"x":null}]}`,
			`{"body":[1,{"x":null}],"code":"äbc","count":3,"headers":{"a":"b"},"hosts":["a.b"],"message":"ü","method":"POST","pin":1234,"ratio":0.5,"region":"eu","token":"s3cr3t","url":"https://x","verbose":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := schema().Resolve(json.RawMessage(tc.given))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResolveNamesTheParameterAndWhatWasWanted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, given, want string
	}{
		{"missing required", `{}`, `parameter "message": is required`},
		{"wrong type", `{"message":"m","count":"abc"}`, `parameter "count": want integer, got "abc"`},
		{"not an integer", `{"message":"m","count":2.5}`, `parameter "count": want integer, got 2.5`},
		{"below minimum", `{"message":"m","count":0}`, `parameter "count": 0 is below the minimum 1`},
		{"above maximum", `{"message":"m","count":11}`, `parameter "count": 11 is above the maximum 10`},
		{"not a boolean", `{"message":"m","verbose":"yes"}`, `parameter "verbose": want boolean, got "yes"`},
		{"not an object", `{"message":"m","headers":[1]}`, `parameter "headers": want object, got [1]`},
		{"not an array", `{"message":"m","hosts":"a"}`, `parameter "hosts": want array, got "a"`},
		{"bad array element", `{"message":"m","hosts":["ok","BAD"]}`, `parameter "hosts[1]": "BAD" does not match pattern "^[a-z.]+$"`},
		{"not in enum", `{"message":"m","method":"PUT"}`, `parameter "method": "PUT" is not one of ["GET", "POST"]`},
		{"pattern", `{"message":"m","url":"ftp://x"}`, `parameter "url": "ftp://x" does not match pattern "^https?://"`},
		{"too short", `{"message":"m","code":"a"}`, `parameter "code": is 1 characters long, want at least 2`},
		{"too long", `{"message":"m","code":"abcde"}`, `parameter "code": is 5 characters long, want at most 4`},
		{"immutable", `{"message":"m","region":"us"}`, `parameter "region": is immutable: it keeps its default "eu"`},
		{"undeclared", `{"message":"m","colour":"red"}`, `parameter "colour": not a parameter of the action (it takes body, code, count, headers, hosts, message, method, pin, ratio, region, token, url, verbose)`},
		{"secret value never shown (enum)", `{"message":"m","token":"wrong-secret"}`, `parameter "token": is not one of the allowed values`},
		{"secret value never shown (type)", `{"message":"m","pin":"9876"}`, `parameter "pin": want integer, got a secret string`},
		{"not an object at all", `[1,2]`, `parameters must be a JSON object`},
		{"every problem at once, sorted", `{"count":"x","verbose":1}`,
			`parameter "count": want integer, got "x"; parameter "verbose": want boolean, got 1; parameter "message": is required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := schema().Resolve(json.RawMessage(tc.given))
			if err == nil {
				t.Fatalf("Resolve accepted %s", tc.given)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			var pe *pack.ParamError
			if !errors.As(err, &pe) {
				t.Errorf("errors.As finds no *ParamError in %v", err)
			}
		})
	}
}

func TestResolveKeepsAGivenImmutableValueEqualToItsDefault(t *testing.T) {
	t.Parallel()
	// A re-run passes the parameters an execution was requested with, defaults included.
	got, err := schema().Resolve(json.RawMessage(`{"message":"m","region":"eu"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"count":3,"message":"m","region":"eu"}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestResolveWithoutParameters(t *testing.T) {
	t.Parallel()
	for _, given := range []string{"", "null", "{}"} {
		got, err := pack.Params{}.Resolve(json.RawMessage(given))
		if err != nil || string(got) != "{}" {
			t.Errorf("Resolve(%q) = %s, %v; want {}, nil", given, got, err)
		}
	}
	_, err := pack.Params(nil).Resolve(json.RawMessage(`{"x":1}`))
	if err == nil || err.Error() != `parameter "x": not a parameter of the action (it takes none)` {
		t.Errorf("got %v", err)
	}
}

func TestResolveKeepsLargeIntegersExact(t *testing.T) {
	t.Parallel()
	ps := pack.Params{"id": {Type: pack.ParamInteger}}
	got, err := ps.Resolve(json.RawMessage(`{"id":12345678901234567890123}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":12345678901234567890123}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestValidateChecksValuesAsGiven(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, given, want string
	}{
		{"valid; names the schema lacks pass", `{"message":"m","count":3,"hosts":["a.b"],"extra":[1]}`, ""},
		{"a required value missing", `{"count":3}`, `parameter "message": is required`},
		{"a value breaking its spec", `{"message":"m","count":0}`, `parameter "count": 0 is below the minimum 1`},
		{"array items", `{"message":"m","hosts":["ok","BAD"]}`, `parameter "hosts[1]": "BAD" does not match pattern "^[a-z.]+$"`},
		{"every problem, in name order", `{"verbose":1,"count":"x"}`,
			`parameter "count": want integer, got "x"; parameter "message": is required; parameter "verbose": want boolean, got 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := pack.DecodeValue([]byte(tc.given))
			if err != nil {
				t.Fatal(err)
			}
			err = schema().Validate(v.(map[string]any))
			var pe *pack.ParamError
			if err != nil && !errors.As(err, &pe) {
				t.Errorf("errors.As finds no *ParamError in %v", err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want valid", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestValidateAppliesNoDefault(t *testing.T) {
	t.Parallel()
	ps := pack.Params{"n": {Type: pack.ParamInteger, Required: true, Default: json.RawMessage(`1`)}}
	if err := ps.Validate(map[string]any{}); err == nil || err.Error() != `parameter "n": is required` {
		t.Errorf("got %v; a payload carries what was sent, no default", err)
	}
}

func TestCheckNamesTheKeywordBroken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		param, value string
		want         pack.Keyword
	}{
		{"count", `"3"`, pack.KeywordType},
		{"method", `"PUT"`, pack.KeywordEnum},
		{"code", `"a"`, pack.KeywordMinLength},
		{"code", `"abcde"`, pack.KeywordMaxLength},
		{"url", `"ftp://x"`, pack.KeywordPattern},
		{"count", `0`, pack.KeywordMinimum},
		{"count", `11`, pack.KeywordMaximum},
	}
	for _, tc := range cases {
		v, err := pack.DecodeValue([]byte(tc.value))
		if err != nil {
			t.Fatal(err)
		}
		e := schema()[tc.param].Check(tc.param, v)
		if e == nil || e.Keyword != tc.want || e.Param != tc.param {
			t.Errorf("%s = %s: got %+v, want a problem with %s", tc.param, tc.value, e, tc.want)
		}
	}
	// Check looks at the array, not its elements: Item gives their spec.
	hosts := schema()["hosts"]
	if e := hosts.Check("hosts", []any{"BAD"}); e != nil {
		t.Errorf("Check looked into the elements: %v", e)
	}
	item, err := hosts.Item()
	if err != nil {
		t.Fatal(err)
	}
	if e := item.Check("hosts[0]", "BAD"); e == nil || e.Keyword != pack.KeywordPattern {
		t.Errorf("the element's spec let \"BAD\" pass: %v", e)
	}
	secrets := pack.Param{Type: pack.ParamArray, Secret: true, Items: json.RawMessage(`{"type":"string"}`)}
	if item, err := secrets.Item(); err != nil || !item.Secret || item.Type != pack.ParamString {
		t.Errorf("the elements of a secret array: %+v, %v; want secret strings", item, err)
	}
}

func TestDecodeValueReadsExactlyOneValue(t *testing.T) {
	t.Parallel()
	v, err := pack.DecodeValue([]byte(`{"id": 12345678901234567890123}`))
	if err != nil || v.(map[string]any)["id"] != json.Number("12345678901234567890123") {
		t.Errorf("got %#v, %v; want the integer's every digit", v, err)
	}
	for _, bad := range []string{``, `{"a":`, `{} x`, `1 2`} {
		if _, err := pack.DecodeValue([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
