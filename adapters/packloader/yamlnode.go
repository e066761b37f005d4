package packloader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The loader walks yaml.Node trees instead of decoding into structs: only the node knows the
// line of every key and value, and walking it lets one pass report every unknown field, wrong
// type and duplicate key of a file instead of the first.

// yamlLine finds the line in yaml.v3's parse errors ("yaml: line 3: did not find …").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser (as opposed to its scanner). v3.0.1
// numbers their lines from 0 (and leaves line 0 out), so parse adds one to them; the
// scanner's lines are right. A test pins this.
var parserProblems = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"found undefined tag handle", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found duplicate %YAML directive", "found incompatible YAML document",
	"found duplicate %TAG directive",
}

// parse reads a file holding one YAML document and returns its root node, or nil after
// reporting why there is none.
func (f fileProblems) parse(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			f.at(nil, "", "empty file")
			return nil
		}
		msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			msg = m[2]
			line, _ = strconv.Atoi(m[1])
		}
		if slices.Contains(parserProblems, msg) {
			line++
		}
		f.add(f.file, line, "", "invalid YAML: %s", msg)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		f.add(f.file, extra.Line, "", "more than one YAML document: a pack file holds one")
		return nil
	}
	if len(doc.Content) == 0 {
		f.at(nil, "", "empty file")
		return nil
	}
	return doc.Content[0]
}

// resolve follows aliases; nil for nil.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports an absent value: no node, or an explicit or empty null (`parameters:`).
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind and value for messages: `string "30s"`, `a list`.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return strconv.Quote(n.Value)
	case "!!int":
		return "integer " + n.Value
	case "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	case "!!null":
		return "null"
	}
	return n.ShortTag() + " " + strconv.Quote(n.Value)
}

// entry is one key of a mapping.
type entry struct {
	key string
	k   *yaml.Node // the key, for its line
	v   *yaml.Node // the value, aliases resolved
}

// entries lists a mapping's keys in file order, reporting duplicates and keys that are not
// scalars. The second of two equal keys is dropped: YAML forbids them and silently keeping
// either would hide a mistake.
func (f fileProblems) entries(n *yaml.Node, prefix string) []entry {
	seen := map[string]int{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			f.at(k, prefix, "keys must be scalars, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			f.at(k, join(prefix, k.Value), "YAML merge keys (<<) are not supported: spell the fields out")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			f.at(k, join(prefix, k.Value), "defined twice (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k.Value, k: k, v: v})
	}
	return out
}

// object is a mapping with a fixed set of fields.
type object struct {
	f      fileProblems
	n      *yaml.Node // nil when absent or not a mapping: getters then return zero values
	prefix string
	vals   map[string]*yaml.Node
}

// object checks that n is a mapping whose keys are all in allowed, reporting every other key
// (the typo `paramters:` must not silently drop the parameters). A null n is an empty object.
func (f fileProblems) object(n *yaml.Node, prefix string, allowed ...string) object {
	o := object{f: f, prefix: prefix, vals: map[string]*yaml.Node{}}
	n = resolve(n)
	if isNull(n) {
		return o
	}
	if n.Kind != yaml.MappingNode {
		f.at(n, prefix, "want a mapping of fields, got %s", describe(n))
		return o
	}
	o.n = n
	for _, e := range f.entries(n, prefix) {
		if !slices.Contains(allowed, e.key) {
			f.at(e.k, join(prefix, e.key), "unknown field%s", suggest(e.key, allowed))
			continue
		}
		o.vals[e.key] = e.v
	}
	return o
}

// field is the dotted path of one of o's keys.
func (o object) field(key string) string { return join(o.prefix, key) }

// get returns the value of key, nil when absent or null.
func (o object) get(key string) *yaml.Node {
	if v := o.vals[key]; !isNull(v) {
		return v
	}
	return nil
}

// need reports key as missing when o exists and lacks it; it returns the value.
func (o object) need(key string) *yaml.Node {
	v := o.get(key)
	if v == nil && o.n != nil {
		o.f.at(o.n, o.field(key), "required")
	}
	return v
}

// str returns a string field ("" when absent or not a string, the latter reported).
func (o object) str(key string) string {
	return o.f.str(o.get(key), o.field(key))
}

// needStr is str for a required field.
func (o object) needStr(key string) string {
	return o.f.str(o.need(key), o.field(key))
}

func (f fileProblems) str(n *yaml.Node, field string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp") {
		f.at(n, field, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

// boolean returns a boolean field, def when absent.
func (o object) boolean(key string, def bool) bool {
	n := o.get(key)
	if n == nil {
		return def
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		o.f.at(n, o.field(key), "want true or false, got %s", describe(n))
		return def
	}
	return b
}

// integer returns an integer field of at least lowest (0 when absent or reported).
func (o object) integer(key string, lowest int) int {
	i, _ := o.f.integer(o.get(key), o.field(key), lowest)
	return i
}

func (f fileProblems) integer(n *yaml.Node, field string, lowest int) (int, bool) {
	if n == nil {
		return 0, false
	}
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		f.at(n, field, "want an integer, got %s", describe(n))
		return 0, false
	}
	if i < lowest {
		f.at(n, field, "must be at least %d, got %d", lowest, i)
		return 0, false
	}
	return i, true
}

// number returns a numeric field, nil when absent or reported.
func (o object) number(key string) *float64 {
	n := o.get(key)
	if n == nil {
		return nil
	}
	v, ok := o.f.value(n, o.field(key))
	if !ok {
		return nil
	}
	x, isNum := asFloat(v)
	if !isNum {
		o.f.at(n, o.field(key), "want a number, got %s", describe(n))
		return nil
	}
	return &x
}

// item is one string of a list, with where it was written.
type item struct {
	s     string
	n     *yaml.Node
	field string
}

// strs returns the strings of a list field, reporting items that are not strings.
func (o object) strs(key string) []item {
	n := o.get(key)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		o.f.at(n, o.field(key), "want a list of strings, got %s", describe(n))
		return nil
	}
	var out []item
	for i, c := range n.Content {
		c = resolve(c)
		field := index(o.field(key), i)
		if s := o.f.str(c, field); s != "" {
			out = append(out, item{s, c, field})
		}
	}
	return out
}

// value converts a node to the JSON value it stands for: string, int64, float64, bool, nil,
// []any or map[string]any. A timestamp stays the string it was written as (JSON has no time
// type, and re-rendering it could change it). It reports values JSON cannot hold.
func (f fileProblems) value(n *yaml.Node, field string) (any, bool) {
	n = resolve(n)
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, item := range n.Content {
			v, good := f.value(item, index(field, i))
			ok = ok && good
			out = append(out, v)
		}
		return out, ok
	case yaml.MappingNode:
		out := map[string]any{}
		ok := true
		for _, e := range f.entries(n, field) {
			v, good := f.value(e.v, join(field, e.key))
			ok = ok && good
			out[e.key] = v
		}
		return out, ok
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return n.Value, true
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, true
		}
		f.at(n, field, "integer %s is out of range", n.Value)
		return nil, false
	case "!!float":
		var x float64
		if err := n.Decode(&x); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) {
			return x, true
		}
		f.at(n, field, "%s is not a JSON number", n.Value)
		return nil, false
	}
	f.at(n, field, "unsupported YAML value %s", describe(n))
	return nil, false
}

// asFloat reads a JSON number produced by value.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// toJSON encodes a value produced by value. Keys come out sorted, so equal files give equal
// events (and digests downstream); HTML characters stay as written.
func toJSON(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// value produces only JSON types; anything else is a bug in this package.
		panic(fmt.Sprintf("packloader: encode %T: %v", v, err))
	}
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n"))
}
