package pack_test

import (
	"reflect"
	"testing"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
)

func registration(actions []string, rules []string) pack.PackRegistered {
	p := pack.PackRegistered{Ref: "examples", Version: "1.0.0"}
	for _, a := range actions {
		p.Actions = append(p.Actions, pack.Action{Ref: "examples." + a, Name: a, RunnerType: pack.RunnerShell})
	}
	for _, r := range rules {
		p.Rules = append(p.Rules, pack.Rule{Ref: "examples." + r, Name: r, Trigger: "core.webhook", Action: "core.echo"})
	}
	return p
}

func TestRegisterRetiresWhatAReloadDrops(t *testing.T) {
	t.Parallel()
	first := registration([]string{"shout", "whisper"}, []string{"on_ping", "on_pong"})
	if got := pack.Register(nil, first); got.Retired != nil {
		t.Fatalf("a new pack retires %v", got.Retired)
	}
	stale := registration([]string{"shout"}, []string{"on_ping"})
	stale.Retired = []pack.Component{{Kind: pack.KindAction, Ref: "examples.stale"}} // ignored: Register decides
	got := pack.Register(&first, stale)
	want := []pack.Component{{Kind: pack.KindAction, Ref: "examples.whisper"}, {Kind: pack.KindRule, Ref: "examples.on_pong"}}
	if !reflect.DeepEqual(got.Retired, want) {
		t.Fatalf("retired %v, want %v", got.Retired, want)
	}
	if again := pack.Register(&got, got); again.Retired != nil {
		t.Fatalf("reloading the same pack retires %v", again.Retired)
	}
}

func TestRetireListsEveryComponent(t *testing.T) {
	t.Parallel()
	p := registration([]string{"shout"}, []string{"on_ping"})
	p.Triggers = []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook}}
	p.Sensors = []pack.Sensor{{Ref: "examples.watch", Name: "watch"}}
	p.Policies = []pack.Policy{{Ref: "examples.limit", Name: "limit"}}
	got := pack.Retire(p, "deleted")
	want := pack.PackRetired{Ref: "examples", Reason: "deleted", Retired: []pack.Component{
		{Kind: pack.KindAction, Ref: "examples.shout"}, {Kind: pack.KindPolicy, Ref: "examples.limit"},
		{Kind: pack.KindRule, Ref: "examples.on_ping"}, {Kind: pack.KindSensor, Ref: "examples.watch"},
		{Kind: pack.KindTrigger, Ref: "examples.ping"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestCurrentIsTheLastRegistrationUnlessRetired(t *testing.T) {
	t.Parallel()
	v1, v2 := registration([]string{"a"}, nil), registration([]string{"b"}, nil)
	v2.Version = "2.0.0"
	tests := []struct {
		name    string
		events  []event.Event
		version string // "" for no live registration
	}{
		{"no events", nil, ""},
		{"registered", []event.Event{v1}, "1.0.0"},
		{"reloaded, decoded as pointers", []event.Event{&v1, &v2}, "2.0.0"},
		{"retired", []event.Event{v1, pack.PackRetired{Ref: "examples"}}, ""},
		{"registered again after retirement", []event.Event{v1, &pack.PackRetired{Ref: "examples"}, v2}, "2.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur := pack.Current(tt.events)
			switch {
			case tt.version == "" && cur != nil:
				t.Fatalf("current = %s, want none", cur.Version)
			case tt.version != "" && (cur == nil || cur.Version != tt.version):
				t.Fatalf("current = %+v, want version %s", cur, tt.version)
			}
		})
	}
}

func TestParsersAcceptExactlyTheirNames(t *testing.T) {
	t.Parallel()
	check := func(kind string, names []string, parse func(string) error) {
		for _, n := range names {
			if err := parse(n); err != nil {
				t.Errorf("%s %q rejected: %v", kind, n, err)
			}
		}
		for _, bad := range []string{"", "Shell", "python3", "cron", "str"} {
			if err := parse(bad); err == nil {
				t.Errorf("%s %q accepted", kind, bad)
			}
		}
	}
	check("runner type", []string{"shell", "python", "node", "builtin", "workflow"}, func(s string) error { _, err := pack.ParseRunnerType(s); return err })
	check("trigger type", []string{"webhook", "timer", "sensor"}, func(s string) error { _, err := pack.ParseTriggerType(s); return err })
	check("param type", []string{"string", "integer", "number", "boolean", "object", "array", "null"}, func(s string) error { _, err := pack.ParseParamType(s); return err })
}
