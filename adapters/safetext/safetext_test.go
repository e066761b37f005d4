package safetext_test

import (
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/safetext"
)

func TestJSONFindsTextAReadModelCannotHoldAndNamesItsField(t *testing.T) {
	t.Parallel()
	limit := func(path []string) int {
		if len(path) == 1 && path[0] == "tag" {
			return 8
		}
		return 0
	}
	cases := []struct {
		name, doc   string
		field, code string // empty: accepted
	}{
		{"plain", `{"a":"hello","b":[1,true,null,{"c":"é\u00e9\ud83d\ude00"}]}`, "", ""},
		{"escaped NUL in a value", `{"payload":{"msg":"a\u0000b"}}`, "/data/payload/msg", safetext.CodeInvalidText},
		{"escaped NUL in a key", `{"payload":{"a\u0000":1}}`, "/data/payload", safetext.CodeInvalidText},
		{"escaped NUL in an array", `{"l":["ok","\u0000"]}`, "/data/l/1", safetext.CodeInvalidText},
		{"raw NUL byte", "{\"m\":\"a\x00\"}", "/data/m", safetext.CodeInvalidText},
		{"invalid UTF-8", "{\"m\":\"a\xff\xfe\"}", "/data/m", safetext.CodeInvalidText},
		{"lone high surrogate", `{"m":"\ud800x"}`, "/data/m", safetext.CodeInvalidText},
		{"lone low surrogate", `{"m":"\udc00"}`, "/data/m", safetext.CodeInvalidText},
		{"pointer escapes", `{"a/b":{"c~d":"\u0000"}}`, "/data/a~1b/c~0d", safetext.CodeInvalidText},
		{"escaped keys decoded", `{"a\"b\u00e9":{"x\ny":"\u0000"}}`, "/data/a\"bé/x\ny", safetext.CodeInvalidText},
		{"an unknown escape", `{"m":"\q"}`, "/data/m", safetext.CodeInvalidText},
		{"bounded field too long", `{"tag":"123456789"}`, "/data/tag", safetext.CodeTooLong},
		{"bounded field at its limit, escapes counted decoded", `{"tag":"123456\u00e9"}`, "", ""},
		{"same length elsewhere is free", `{"other":"123456789"}`, "", ""},
	}
	for _, c := range cases {
		err := safetext.JSON([]byte(c.doc), "/data", limit)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v, want accepted", c.name, err)
			}
			continue
		}
		if err == nil || err.Field != c.field || err.Code != c.code {
			t.Errorf("%s: got %+v, want %s at %s", c.name, err, c.code, c.field)
		}
	}
}

func TestStringChecksOneField(t *testing.T) {
	t.Parallel()
	if err := safetext.String("/metadata/trace_tag", strings.Repeat("x", 900_000), safetext.MaxTraceTagBytes); err == nil || err.Code != safetext.CodeTooLong || err.Limit != 256 {
		t.Fatalf("a 900 KB trace tag: got %v, want too_long with limit 256", err)
	}
	if err := safetext.String("f", "a\x00", 0); err == nil || err.Code != safetext.CodeInvalidText {
		t.Fatalf("NUL: got %v, want invalid_text", err)
	}
	if err := safetext.String("f", "a\xc3", 0); err == nil || err.Code != safetext.CodeInvalidText {
		t.Fatalf("truncated UTF-8: got %v, want invalid_text", err)
	}
	if err := safetext.String("f", "déjà vu", 0); err != nil {
		t.Fatalf("valid text: %v", err)
	}
}

// BenchmarkJSON measures the guard's text check on a typical event payload and on a large one.
func BenchmarkJSON(b *testing.B) {
	small := []byte(`{"execution_id":"01JABCDEFGHJKMNPQRSTVWXYZ0","action":"examples.shout","rule":"examples.on_error_ping",` +
		`"parameters":{"message":"disk full (via hello)","count":3,"tags":["a","b"]},"trigger":"examples.ping"}`)
	large := []byte(`{"payload":{"text":"` + strings.Repeat("déjà vu ", 12_500) + `"}}`)
	for _, c := range []struct {
		name string
		doc  []byte
	}{{"small", small}, {"100KB", large}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				if err := safetext.JSON(c.doc, "/data", func(p []string) int { return map[bool]int{true: 512}[len(p) == 1] }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
