package answerschema_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/answerschema"
	"github.com/attune-go/attune/domain/inquiry"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	flat := `{"approved": {"type": "boolean", "required": true}, "reason": {"type": "string", "default": "none"},
		"tags": {"type": "array", "items": {"type": "string"}}, "level": {"type": "string", "enum": ["low", "high"]}}`
	js := `{"type": "object", "required": ["approved"], "additionalProperties": false,
		"properties": {"approved": {"type": "boolean"}, "who": {"type": "object", "properties": {"name": {"type": "string"}}},
		"mail": {"type": "string", "format": "email"}}}`
	cases := []struct {
		name, schema, answer string
		kind                 inquiry.SchemaKind
		want, field          string // want: the recorded answer; field: the pointer of the failure
	}{
		{"flat ok, default applied", flat, `{"approved": true}`, inquiry.SchemaFlat, `{"approved":true,"reason":"none"}`, ""},
		{"flat missing", flat, `{"reason": "x"}`, inquiry.SchemaFlat, "", "/approved"},
		{"flat wrong type", flat, `{"approved": "yes"}`, inquiry.SchemaFlat, "", "/approved"},
		{"flat unknown", flat, `{"approved": true, "extra": 1}`, inquiry.SchemaFlat, "", "/extra"},
		{"flat enum", flat, `{"approved": true, "level": "mid"}`, inquiry.SchemaFlat, "", "/level"},
		{"flat item", flat, `{"approved": true, "tags": ["a", 2]}`, inquiry.SchemaFlat, "", "/tags/1"},
		{"not an object", flat, `[true]`, inquiry.SchemaFlat, "", ""},
		{"json ok", js, `{"approved": false}`, inquiry.SchemaJSON, `{"approved":false}`, ""},
		{"json missing", js, `{}`, inquiry.SchemaJSON, "", "/approved"},
		{"json nested type", js, `{"approved": true, "who": {"name": 3}}`, inquiry.SchemaJSON, "", "/who/name"},
		{"json format asserted", js, `{"approved": true, "mail": "not an address"}`, inquiry.SchemaJSON, "", "/mail"},
		{"json extra", js, `{"approved": true, "x": 1}`, inquiry.SchemaJSON, "", "/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := answerschema.Compile(json.RawMessage(c.schema))
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind() != c.kind {
				t.Fatalf("kind %s, want %s", s.Kind(), c.kind)
			}
			got, err := s.Check(json.RawMessage(c.answer))
			if c.want != "" {
				if err != nil || string(got) != c.want {
					t.Fatalf("got %s, %v; want %s", got, err, c.want)
				}
				return
			}
			var fe *answerschema.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("got %s, %v; want a FieldError at %q", got, err, c.field)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	t.Parallel()
	for name, schema := range map[string]string{
		"not an object":          `[1]`,
		"empty flat":             `{}`,
		"flat unknown keyword":   `{"a": {"type": "string", "colour": "red"}}`,
		"flat unknown type":      `{"a": {"type": "text"}}`,
		"flat bad default":       `{"a": {"type": "integer", "default": "x"}}`,
		"flat secret":            `{"a": {"type": "string", "secret": true}}`,
		"json top not an object": `{"type": "string"}`,
		"json remote ref":        `{"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}`,
		"json bad keyword value": `{"type": "object", "minProperties": "two"}`,
	} {
		if _, err := answerschema.Compile(json.RawMessage(schema)); err == nil {
			t.Errorf("%s: %s compiled", name, schema)
		}
	}
}
