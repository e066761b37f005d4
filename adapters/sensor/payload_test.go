package sensor_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/sensor"
	"github.com/attune-go/attune/domain/pack"
)

func ptr[T any](v T) *T { return &v }

var schema = pack.Params{
	"msg":    {Type: pack.ParamString, Required: true},
	"level":  {Type: pack.ParamString, Enum: []json.RawMessage{[]byte(`"info"`), []byte(`"error"`)}},
	"count":  {Type: pack.ParamInteger, Minimum: ptr(0.0), Maximum: ptr(10.0)},
	"ratio":  {Type: pack.ParamNumber},
	"ok":     {Type: pack.ParamBoolean},
	"tags":   {Type: pack.ParamArray},
	"meta":   {Type: pack.ParamObject},
	"host":   {Type: pack.ParamString, Pattern: `^[a-z]+\d*$`, MinLength: ptr(2), MaxLength: ptr(8)},
	"gone":   {Type: pack.ParamNull},
	"anyval": {},
	"ids":    {Type: pack.ParamArray, Items: json.RawMessage(`{"type": "integer"}`)},
}

func TestValidatePayload(t *testing.T) {
	t.Parallel()
	cases := []struct {
		payload, field, reason string
	}{
		{`{"msg": "x"}`, "", ""},
		{`{"msg": "x", "level": "error", "count": 10, "ratio": 0.5, "ok": false, "tags": [], "meta": {}, "host": "db1", "gone": null, "anyval": [1], "extra": 1}`, "", ""},
		{`{"msg": "x", "count": 3.0}`, "", ""},
		{`{"msg": "x", "ratio": 3}`, "", ""},
		{`{}`, "msg", "is required"},
		{`{"msg": null}`, "msg", "want string, got null"},
		{`{"msg": 1}`, "msg", "want string, got integer"},
		{`{"msg": "x", "level": "warn"}`, "level", `want one of ["info", "error"]`},
		{`{"msg": "x", "count": 2.5}`, "count", "want integer, got number"},
		{`{"msg": "x", "count": -1}`, "count", "below the minimum 0"},
		{`{"msg": "x", "count": 11}`, "count", "above the maximum 10"},
		{`{"msg": "x", "ok": "true"}`, "ok", "want boolean, got string"},
		{`{"msg": "x", "tags": {}}`, "tags", "want array, got object"},
		{`{"msg": "x", "meta": []}`, "meta", "want object, got array"},
		{`{"msg": "x", "host": "DB"}`, "host", "does not match"},
		{`{"msg": "x", "host": "a"}`, "host", "shorter than 2"},
		{`{"msg": "x", "host": "abcdefghij"}`, "host", "longer than 8"},
		{`{"msg": "x", "gone": 0}`, "gone", "want null"},
		{`{"msg": "x", "ids": [1, "2"]}`, "ids[1]", `want integer, got "2"`},
		// Fields are checked in name order, so the first problem reported is always the same.
		{`{"count": "x", "tags": 1}`, "count", "want integer"},
	}
	for _, c := range cases {
		p, err := sensor.DecodeObject([]byte(c.payload))
		if err != nil {
			t.Fatalf("%s: %v", c.payload, err)
		}
		err = sensor.ValidatePayload(schema, p)
		var fe *sensor.FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v, want valid", c.payload, err)
		case c.field != "" && !errors.As(err, &fe):
			t.Errorf("%s: %v, want a FieldError on %s", c.payload, err, c.field)
		case c.field != "" && (fe.Field != c.field || !strings.Contains(fe.Reason, c.reason)):
			t.Errorf("%s: %v, want field %s: %s", c.payload, err, c.field, c.reason)
		}
	}
}

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{``, `[]`, `"x"`, `null`, `{"a":1} x`, `{"a":`} {
		if _, err := sensor.DecodeObject([]byte(bad)); err == nil {
			t.Errorf("%q decoded as an object", bad)
		}
	}
	if _, err := sensor.DecodeObject([]byte(`[1]`)); !errors.Is(err, sensor.ErrNotObject) {
		t.Errorf("an array: %v, want ErrNotObject", err)
	}
}

// A StackStorm payload field's JSON Schema beyond the flat keywords (nested properties) is
// checked too.
func TestValidatePayloadChecksAFieldsWholeJSONSchema(t *testing.T) {
	nested := pack.Params{"host": {Type: pack.ParamObject, Schema: json.RawMessage(`{"type": "object", "properties": {"port": {"type": "integer"}}}`)}}
	if err := sensor.ValidatePayload(nested, map[string]any{"host": map[string]any{"port": json.Number("80")}}); err != nil {
		t.Fatalf("a valid nested payload: %v", err)
	}
	err := sensor.ValidatePayload(nested, map[string]any{"host": map[string]any{"port": "eighty"}})
	var fe *sensor.FieldError
	if !errors.As(err, &fe) || fe.Field != "host" || !strings.Contains(fe.Reason, "port") {
		t.Fatalf("a nested field of the wrong type: %v", err)
	}
}
