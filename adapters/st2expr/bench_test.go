package st2expr_test

import (
	"context"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/st2expr"
)

// TestConcurrentRenders renders one compiled template from many goroutines (run with -race):
// callers compile a pack's expressions once and render them for every event.
func TestConcurrentRenders(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`{% for t in trigger.body.tags %}{{ t | upper }}{% endfor %} {{ ctx().x ~ '!' }}`,
		`{{ trigger.body }}`,
		`<% ctx(vms).where($.region = 'us-east').select($.name).join(',') %>`,
	} {
		tpl, err := st2expr.Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		e := env()
		if src[0] == '<' {
			e = yaqlEnv()
		}
		want, err := tpl.Render(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 50 {
					got, err := tpl.RenderString(context.Background(), e)
					if err != nil || got != st2expr.ToString(want) {
						t.Errorf("%s: concurrent render = %q, %v; want %q", src, got, err, st2expr.ToString(want))
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

func BenchmarkJinjaRender(b *testing.B) {
	benchRender(b, `echo {{ trigger.body.x | upper }} {{ st2kv.system.greeting }} {{ trigger.body.tags | join(',') }}`, env())
}

func BenchmarkYAQLRender(b *testing.B) {
	benchRender(b, `<% ctx(vms).where($.region = 'us-east').select($.name).join(',') %>`, yaqlEnv())
}

// benchRender renders one compiled template over and over: compile once, render per event.
func benchRender(b *testing.B, src string, e st2expr.Env) {
	tpl, err := st2expr.Compile(src)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tpl.Render(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		if _, err := st2expr.Compile(`{% if trigger.body.count > 3 %}{{ trigger.body.x | to_json_string }}{% endif %}`); err != nil {
			b.Fatal(err)
		}
		if _, err := st2expr.Compile(`<% ctx(vms).where($.region = 'us-east').select($.name) %>`); err != nil {
			b.Fatal(err)
		}
	}
}
