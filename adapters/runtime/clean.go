package runtime

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/attune-go/attune/adapters/safetext"
)

// Clean makes the text of an outcome something the log takes and every read model can hold:
// an action may print anything — a NUL, binary, a JSON result holding "\u0000" — and the
// log's guard refuses such text (adapters/safetext), which would leave the execution
// running for ever with its report refused. A NUL and every invalid UTF-8 sequence become
// U+FFFD, the replacement character; a result holding one is re-encoded with the same
// replacements (its keys then sorted). A clean outcome is returned as it is.
func Clean(o Outcome) Outcome {
	o.Stdout, o.Stderr, o.Reason = cleanText(o.Stdout), cleanText(o.Stderr), cleanText(o.Reason)
	if len(o.Result) > 0 && safetext.JSON(o.Result, "", nil) != nil {
		o.Result = cleanJSON(o.Result)
	}
	return o
}

func cleanText(s string) string {
	if safetext.String("", s, 0) == nil {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanJSON decodes raw (which turns invalid UTF-8 and lone surrogates into U+FFFD), replaces
// the NULs left in strings and keys, and encodes it again, numbers exact; what does not decode
// is kept as text.
func cleanJSON(raw json.RawMessage) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return jsonText(cleanText(string(raw)))
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(cleanValue(v)); err != nil {
		return jsonText(cleanText(string(raw)))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return cleanText(v)
	case []any:
		for i := range v {
			v[i] = cleanValue(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[cleanText(k)] = cleanValue(x)
		}
		return out
	}
	return v
}

func jsonText(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
