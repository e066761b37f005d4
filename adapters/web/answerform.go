package web

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
)

// answerForm is the form an inquiry's schema makes: one input per top-level field, typed by
// its type, or (for a schema the form cannot spell out) one JSON text area for the whole
// answer. The form only shapes the answer; the respond use case checks it against the schema,
// and its field errors come back to the field they name.
type answerForm struct {
	Fields []answerField
	// Raw: the answer is typed as JSON in one text area (RawValue, RawError).
	Raw      bool
	RawValue string
	RawError string
}

// answerField is one input of the form.
type answerField struct {
	Name        string
	Description string
	// Input is the control: checkbox (boolean), number (integer, number), select (enum),
	// text (string), json (object, array or any value: a small text area of JSON).
	Input    string
	Step     string // number inputs: "1" for integers, "any" otherwise
	Required bool
	Options  []answerOption
	Value    string // the text of the input as shown
	Checked  bool
	Error    string
}

type answerOption struct {
	Value string // the option's JSON text, which the answer carries
	Label string
}

// fieldSpec is what the form needs of one field, from either schema kind.
type fieldSpec struct {
	typ         string
	description string
	required    bool
	enum        []json.RawMessage
	dflt        json.RawMessage
}

// formFor builds the form of a schema; a schema it cannot spell out gets the JSON text area.
func formFor(kind inquiry.SchemaKind, schema json.RawMessage) answerForm {
	specs, ok := flatSpecs(schema)
	if kind == inquiry.SchemaJSON {
		specs, ok = jsonSchemaSpecs(schema)
	}
	if !ok || len(specs) == 0 {
		return answerForm{Raw: true, RawValue: "{}"}
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	slices.Sort(names)
	var f answerForm
	for _, n := range names {
		f.Fields = append(f.Fields, fieldOf(n, specs[n]))
	}
	return f
}

func fieldOf(name string, sp fieldSpec) answerField {
	fd := answerField{Name: name, Description: sp.description, Required: sp.required}
	switch {
	case len(sp.enum) > 0:
		fd.Input = "select"
		for _, v := range sp.enum {
			fd.Options = append(fd.Options, answerOption{Value: string(compact(v)), Label: labelOf(v)})
		}
		if len(sp.dflt) > 0 {
			fd.Value = string(compact(sp.dflt))
		}
		return fd
	case sp.typ == string(pack.ParamBoolean):
		fd.Input = "checkbox"
		fd.Checked = string(compact(sp.dflt)) == "true"
		return fd
	case sp.typ == string(pack.ParamInteger) || sp.typ == string(pack.ParamNumber):
		fd.Input, fd.Step = "number", "any"
		if sp.typ == string(pack.ParamInteger) {
			fd.Step = "1"
		}
		fd.Value = string(compact(sp.dflt))
		return fd
	case sp.typ == string(pack.ParamString):
		fd.Input = "text"
		var s string
		if json.Unmarshal(sp.dflt, &s) == nil {
			fd.Value = s
		}
		return fd
	}
	fd.Input = "json"
	fd.Value = string(compact(sp.dflt))
	return fd
}

func flatSpecs(schema json.RawMessage) (map[string]fieldSpec, bool) {
	var ps map[string]pack.Param
	if err := json.Unmarshal(schema, &ps); err != nil {
		return nil, false
	}
	out := map[string]fieldSpec{}
	for n, p := range ps {
		out[n] = fieldSpec{typ: string(p.Type), description: p.Description, required: p.Required, enum: p.Enum, dflt: p.Default}
	}
	return out, true
}

// jsonSchemaSpecs reads a JSON Schema's top-level properties; false when the schema says
// more than one input per property can hold (no properties, or a property whose type is a
// list or that combines schemas), so the whole answer is typed as JSON.
func jsonSchemaSpecs(schema json.RawMessage) (map[string]fieldSpec, bool) {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(schema, &s); err != nil || len(s.Properties) == 0 {
		return nil, false
	}
	out := map[string]fieldSpec{}
	for n, raw := range s.Properties {
		var p struct {
			Type        *string           `json:"type"`
			Description string            `json:"description"`
			Enum        []json.RawMessage `json:"enum"`
			Const       json.RawMessage   `json:"const"`
			Default     json.RawMessage   `json:"default"`
			Ref         string            `json:"$ref"`
			AnyOf       []json.RawMessage `json:"anyOf"`
			OneOf       []json.RawMessage `json:"oneOf"`
			AllOf       []json.RawMessage `json:"allOf"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, false // "type": ["string", "null"] and the like
		}
		if p.Ref != "" || len(p.AnyOf)+len(p.OneOf)+len(p.AllOf) > 0 {
			return nil, false
		}
		sp := fieldSpec{description: p.Description, required: slices.Contains(s.Required, n), enum: p.Enum, dflt: p.Default}
		if p.Type != nil {
			sp.typ = *p.Type
		}
		if len(p.Const) > 0 {
			sp.enum = []json.RawMessage{p.Const}
		}
		out[n] = sp
	}
	return out, true
}

// fieldError is a problem with the form's answer, at a JSON Pointer ("" for the whole).
type fieldError struct{ Field, Message string }

// read turns the posted form into the answer. An input left empty is left out of the answer
// (the schema then says whether it was required); a number that does not read as one is sent
// as the text typed, so the schema's check names the field.
func (f *answerForm) read(form url.Values) (json.RawMessage, *fieldError) {
	if f.Raw {
		f.RawValue = form.Get("answer")
		raw := strings.TrimSpace(f.RawValue)
		if !json.Valid([]byte(raw)) {
			return nil, &fieldError{Message: "the answer is not valid JSON"}
		}
		return json.RawMessage(raw), nil
	}
	answer := map[string]json.RawMessage{}
	for i := range f.Fields {
		fd := &f.Fields[i]
		v := form.Get(fd.Name)
		fd.Value = v
		switch fd.Input {
		case "checkbox":
			fd.Checked = form.Has(fd.Name)
			answer[fd.Name] = json.RawMessage(strconv.FormatBool(fd.Checked))
			continue
		case "json":
			if strings.TrimSpace(v) == "" {
				continue
			}
			if !json.Valid([]byte(v)) {
				return nil, &fieldError{Field: "/" + fd.Name, Message: fd.Name + " is not valid JSON"}
			}
			answer[fd.Name] = compact(json.RawMessage(v))
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		isJSON := json.Valid([]byte(v))
		switch {
		case fd.Input == "select" && isJSON:
			answer[fd.Name] = json.RawMessage(v)
		case fd.Input == "number" && isJSON && isNumber(v):
			answer[fd.Name] = json.RawMessage(v)
		default:
			b, _ := json.Marshal(v)
			answer[fd.Name] = b
		}
	}
	b, err := json.Marshal(answer)
	if err != nil {
		return nil, &fieldError{Message: err.Error()}
	}
	return b, nil
}

// blame puts a refusal's message beside the field its JSON Pointer names; false when no
// field of the form is that one (the page shows it above the form).
func (f *answerForm) blame(pointer, msg string) bool {
	if f.Raw {
		f.RawError = msg
		return true
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(pointer, "/"), "/")
	name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
	for i := range f.Fields {
		if name != "" && f.Fields[i].Name == name {
			f.Fields[i].Error = msg
			return true
		}
	}
	return false
}

func isNumber(v string) bool {
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// labelOf shows an enum value: a string as its text, anything else as JSON.
func labelOf(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(compact(v))
}
