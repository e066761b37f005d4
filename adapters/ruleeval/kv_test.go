package ruleeval_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

func TestTemplatesReadTheKeyValueStore(t *testing.T) {
	t.Parallel()
	r := compile(t, pack.Rule{
		Criteria: criteria(t, `{"payload.count": {"type": "greaterthan", "pattern": "{{ kv.system.min }}"}}`),
		Parameters: []byte(`{"greeting": "{{ kv.system.greeting }}", "text": "{{ kv.pack.prefix }}: {{ kv.system.greeting }}",
			"port": "{{ kv.pack['odd-name'].port }}", "none": "{{ kv.system.nope ?? 'fallback' }}", "plain": "x"}`),
	})
	if got := fmt.Sprint(r.KVRefs()); got != `[kv.pack["odd-name"] kv.pack.prefix kv.system.greeting kv.system.min kv.system.nope]` {
		t.Errorf("KVRefs = %s", got)
	}
	if got := fmt.Sprint(r.CriteriaKV()); got != "[kv.system.min]" {
		t.Errorf("CriteriaKV = %s", got)
	}
	m := r.ParamsKV()
	if w := m["greeting"].Whole; w == nil || *w != (ruleeval.KVRef{Scope: "system", Name: "greeting"}) {
		t.Errorf("greeting is one whole key: %+v", m["greeting"])
	}
	if m["text"].Whole != nil || len(m["text"].Refs) != 2 || m["port"].Whole != nil {
		t.Errorf("text and port are not whole keys: %+v %+v", m["text"], m["port"])
	}
	if _, ok := m["plain"]; ok {
		t.Error("a parameter that reads no key is listed")
	}
	s := scope(t, payload)
	s.KV = map[string]any{
		"system": map[string]any{"greeting": "hi", "min": 10},
		"pack":   map[string]any{"prefix": "ex", "odd-name": map[string]any{"port": 8080}},
	}
	if res := r.Match(s); !res.Matched {
		t.Fatalf("no match: %+v", res)
	}
	out, err := r.Render(s)
	if err != nil || string(out) != `{"greeting":"hi","none":"fallback","plain":"x","port":8080,"text":"ex: hi"}` {
		t.Fatalf("render: %s %v", out, err)
	}
	delete(s.KV["system"].(map[string]any), "greeting")
	_, err = r.Render(s)
	var me *ruleeval.MissingError
	if !errors.As(err, &me) || me.Path != "kv.system.greeting" {
		t.Fatalf("a missing key: %v, want kv.system.greeting does not exist", err)
	}
}

func TestTheStoreIsReadOnlyByConstantNames(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`{{ kv }}`, `{{ kv.system }}`, `{{ kv.system[event.payload.msg] }}`, `{{ kv.global.x }}`,
		`{{ kv.system?.x }}`, `{{ kv.system['a b'] }}`, `{{ kv['system'][1] }}`,
	} {
		err := ruleeval.CheckRule(pack.Rule{Ref: "p.r", Parameters: []byte(`{"x": "` + src + `"}`)})
		if err == nil {
			t.Errorf("%s compiled", src)
			continue
		}
		if !strings.Contains(err.Error(), "kv") {
			t.Errorf("%s: %v does not say what is wrong with kv", src, err)
		}
	}
}
