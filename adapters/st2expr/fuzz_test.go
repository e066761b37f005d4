package st2expr_test

import (
	"context"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/st2expr"
)

// FuzzRender compiles fuzzed strings and renders those that compile. Nothing panics and every
// render returns within its bounds: templates come from pack files and render values that
// webhook callers send.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		`{{ trigger.body.x }}`, `{{ trigger.body.missing | default('d') }}`,
		`{% for t in trigger.body.tags %}{{ t ~ loop.index }}{% endfor %}`,
		`{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}`,
		`{{ 'x' * 1000000000 }}`, `{% set a = 'xxxx' * 1000 %}{% set b = a ~ a %}{{ b ~ b }}`,
		`{{ ctx().list | join(',') }}`, `{{ task('t').result.stdout | regex_replace('(a)', '\\1\\1') }}`,
		`{{ {'a': [1, 2]} | to_json_string | from_json_string }}`, `{{ '%5d' | format(3) }}`,
		`{{ [1, 2] + [3] }}{{ 'a'.center(10) }}{{ 'a b'.split() }}`, `{{ 1 % 0 }}{{ 1 // 0 }}{{ 1 / 0 }}`,
		`{{ trigger.body.tags[10**9] }}`, `{{ '' | indent(100000) }}`,
		`{% with a = 1 %}{{ a * 'x' }}{% endwith %}`, `{% filter upper %}{{ 'x' * 99 }}{% endfilter %}`,
		`{{ 'x' | replace('', 'y') }}`,
		`<% $.x %>`, `<% ctx(vms).where($.region = 'us-east').select($.name) %>`,
		`<% let(a => 'xx') -> let(b => $a + $a) -> $b + $b %>`, `<% range(100000).select(range(100000)) %>`,
		`x <% $.dict1.get(b, 1) %> <% $.list1.join(',') %> <% dict(a => [1, 2.5, null]) %>`,
		`<% '{0} {}'.format(1) %>`, `<% $.missing or 'd' %>`, `<% zip([1], [2, 3], pad => 0) %>`,
		`<% 1 / 0 %><% 1 mod 0 %><% -9223372036854775807 - 2 %>`, `<% random(1, 0) %>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			tpl, err := st2expr.Compile(src)
			if err != nil {
				return
			}
			_, _ = tpl.Render(context.Background(), env())
			_, _ = tpl.RenderString(context.Background(), yaqlEnv())
			_ = tpl.Names()
			_ = tpl.Functions()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second): // a bound on a hang, not a measure of speed
			t.Fatalf("rendering %q did not return", src)
		}
	})
}
