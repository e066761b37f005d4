// Package paramschema checks a value against the whole JSON Schema of a StackStorm parameter
// or payload field (pack.Param.Schema): the keywords pack.Param has no field for (properties,
// oneOf, format, …), kept by the loader for this check. The worker checks an action's
// parameters with it, the sensors and webhooks a trigger's payload.
package paramschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemas caches compiled parameter schemas by their text: an action's few schemas are
// compiled once per worker, not once per run.
var schemas sync.Map // string → *jsonschema.Schema

// Check validates v against a StackStorm parameter's JSON Schema (Param.Schema, draft 4 as the
// loader wrote it). v is as pack.DecodeValue gives it (numbers as json.Number).
func Check(schema json.RawMessage, v any) error {
	key := string(schema)
	sch, ok := schemas.Load(key)
	if !ok {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft4)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
		if err != nil {
			return fmt.Errorf("its schema does not decode: %w", err)
		}
		if err := c.AddResource("param.json", doc); err != nil {
			return fmt.Errorf("its schema: %w", err)
		}
		compiled, err := c.Compile("param.json")
		if err != nil {
			return fmt.Errorf("its schema does not compile: %w", err)
		}
		sch, _ = schemas.LoadOrStore(key, compiled)
	}
	if err := sch.(*jsonschema.Schema).Validate(v); err != nil {
		// The first line names the schema's location; the rest says what is wrong.
		msg := err.Error()
		if _, rest, ok := strings.Cut(msg, "\n"); ok {
			msg = strings.TrimSpace(rest)
		}
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, "- at '': "), "\n", "; ")
		return fmt.Errorf("%s", msg)
	}
	return nil
}
