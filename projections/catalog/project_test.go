package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/registry"
)

// log builds recorded events one minute apart, in order.
type log struct {
	t0       time.Time
	recorded []eventstore.Recorded
	versions map[string]int64
}

func newLog() *log {
	return &log{t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), versions: map[string]int64{}}
}

func (l *log) add(t *testing.T, stream string, e event.Event) {
	t.Helper()
	md := event.Metadata{Actor: "alice"}
	p, err := eventstore.NewProposed(e, md)
	if err != nil {
		t.Fatal(err)
	}
	l.versions[stream]++
	n := len(l.recorded) + 1
	l.recorded = append(l.recorded, eventstore.Recorded{
		ID: p.ID, StreamID: stream, StreamVersion: l.versions[stream], Type: p.Type, SchemaVersion: p.SchemaVersion,
		Data: p.Data, Metadata: md, RecordedAt: l.t0.Add(time.Duration(n) * time.Minute), Position: eventstore.Position{Minor: uint64(n)},
	})
}

func (l *log) register(t *testing.T, p *pack.PackRegistered) { l.add(t, pack.StreamID(p.Ref), p) }
func (l *log) enable(t *testing.T, ref string) {
	l.add(t, rule.StreamID(ref), &rule.RuleEnabled{Rule: ref})
}
func (l *log) disable(t *testing.T, ref string) {
	l.add(t, rule.StreamID(ref), &rule.RuleDisabled{Rule: ref, Reason: "noisy"})
}
func (l *log) retire(t *testing.T, ref string) {
	l.add(t, pack.StreamID(ref), &pack.PackRetired{Ref: ref, Reason: "gone"})
}

func (l *log) at(tm time.Time) string {
	if tm.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%dm", int(tm.Sub(l.t0).Minutes()))
}

// render is the script the read model is compared as: one line per pack and component.
func (l *log) render(m *memtx.Tx) string {
	var lines []string
	for _, ref := range slices.Sorted(maps.Keys(m.Packs)) {
		p := m.Packs[ref]
		var cs []string
		for _, c := range p.Components {
			cs = append(cs, string(c.Kind)[:1]+":"+c.Ref)
		}
		line := fmt.Sprintf("pack %s v%s created=%s updated=%s retired=%s [%s]", p.Ref, p.Version, l.at(p.CreatedAt), l.at(p.UpdatedAt), l.at(p.RetiredAt), strings.Join(cs, " "))
		if p.RetiredReason != "" {
			line += " reason=" + p.RetiredReason
		}
		lines = append(lines, line)
	}
	keys := slices.SortedFunc(maps.Keys(m.Components), func(a, b catalog.Key) int {
		return strings.Compare(string(a.Kind)+" "+a.Ref, string(b.Kind)+" "+b.Ref)
	})
	for _, k := range keys {
		c := m.Components[k]
		line := fmt.Sprintf("%s %s enabled=%v created=%s retired=%s", c.Kind, c.Ref, c.Enabled, l.at(c.CreatedAt), l.at(c.RetiredAt))
		if c.Kind == pack.KindRule {
			line += fmt.Sprintf(" file=%v said=%d", c.FileEnabled, c.FileSaid.Minor)
			if c.Switch != nil {
				line += fmt.Sprintf(" switch=%v@%d by %s", c.Switch.Enabled, c.Switch.Position.Minor, c.Switch.Actor)
			}
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func examples(version string, rules ...pack.Rule) *pack.PackRegistered {
	return &pack.PackRegistered{
		Ref: "examples", Version: version, Config: json.RawMessage(`{"greeting":"hello"}`),
		Actions:  []pack.Action{{Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerPython, EntryPoint: "shout.py"}},
		Triggers: []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook}},
		Rules:    rules,
	}
}

func onPing(name string, enabled bool) pack.Rule {
	return pack.Rule{Ref: "examples." + name, Name: name, Enabled: enabled, Trigger: "examples.ping", Action: "examples.shout"}
}

// fold applies the log in batches of size and returns the read model.
func fold(t *testing.T, l *log, size int) *memtx.Tx {
	t.Helper()
	m := memtx.New()
	for b := range slices.Chunk(l.recorded, size) {
		if err := catalog.Apply(context.Background(), m, b); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		given func(t *testing.T, l *log)
		want  string
	}{{
		name: "a registration lists the pack and its components, rules as their files say",
		given: func(t *testing.T, l *log) {
			l.register(t, examples("1.0.0", onPing("a", true), onPing("b", false)))
		},
		want: `pack examples v1.0.0 created=+1m updated=+1m retired=- [a:examples.shout r:examples.a r:examples.b t:examples.ping]
action examples.shout enabled=true created=+1m retired=-
rule examples.a enabled=true created=+1m retired=- file=true said=1
rule examples.b enabled=false created=+1m retired=- file=false said=1
trigger examples.ping enabled=true created=+1m retired=-`,
	}, {
		name: "an operator's switch outlives a reload of an unchanged file",
		given: func(t *testing.T, l *log) {
			l.register(t, examples("1.0.0", onPing("a", true)))
			l.disable(t, "examples.a")
			l.register(t, examples("1.0.1", onPing("a", true)))
		},
		want: `pack examples v1.0.1 created=+1m updated=+3m retired=- [a:examples.shout r:examples.a t:examples.ping]
action examples.shout enabled=true created=+1m retired=-
rule examples.a enabled=false created=+1m retired=- file=true said=1 switch=false@2 by alice
trigger examples.ping enabled=true created=+1m retired=-`,
	}, {
		name: "a file that changes its enabled is newer than the operator's switch",
		given: func(t *testing.T, l *log) {
			l.register(t, examples("1.0.0", onPing("a", true)))
			l.disable(t, "examples.a")
			l.register(t, examples("1.0.1", onPing("a", false)))
			l.register(t, examples("1.0.2", onPing("a", true)))
		},
		want: `pack examples v1.0.2 created=+1m updated=+4m retired=- [a:examples.shout r:examples.a t:examples.ping]
action examples.shout enabled=true created=+1m retired=-
rule examples.a enabled=true created=+1m retired=- file=true said=4
trigger examples.ping enabled=true created=+1m retired=-`,
	}, {
		name: "a dropped component is retired, and comes back with its file's word",
		given: func(t *testing.T, l *log) {
			l.register(t, examples("1.0.0", onPing("a", true), onPing("b", true)))
			l.disable(t, "examples.b")
			l.register(t, examples("1.1.0", onPing("a", true)))
			l.register(t, examples("1.2.0", onPing("a", true), onPing("b", true)))
		},
		want: `pack examples v1.2.0 created=+1m updated=+4m retired=- [a:examples.shout r:examples.a r:examples.b t:examples.ping]
action examples.shout enabled=true created=+1m retired=-
rule examples.a enabled=true created=+1m retired=- file=true said=1
rule examples.b enabled=true created=+1m retired=- file=true said=4
trigger examples.ping enabled=true created=+1m retired=-`,
	}, {
		name: "a retired pack keeps its rows, marked retired",
		given: func(t *testing.T, l *log) {
			l.register(t, examples("1.0.0", onPing("a", true)))
			l.retire(t, "examples")
			l.disable(t, "examples.a")
		},
		want: `pack examples v1.0.0 created=+1m updated=+2m retired=+2m [a:examples.shout r:examples.a t:examples.ping] reason=gone
action examples.shout enabled=true created=+1m retired=+2m
rule examples.a enabled=false created=+1m retired=+2m file=true said=1 switch=false@3 by alice
trigger examples.ping enabled=true created=+1m retired=+2m`,
	}, {
		name: "a switch before a rule exists changes nothing once it appears",
		given: func(t *testing.T, l *log) {
			l.disable(t, "examples.a")
			l.retire(t, "examples")
			l.register(t, examples("1.0.0", onPing("a", true)))
		},
		want: `pack examples v1.0.0 created=+3m updated=+3m retired=- [a:examples.shout r:examples.a t:examples.ping]
action examples.shout enabled=true created=+3m retired=-
rule examples.a enabled=true created=+3m retired=- file=true said=3
trigger examples.ping enabled=true created=+3m retired=-`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLog()
			tt.given(t, l)
			// How the runner cuts the log into transactions cannot change the rows.
			for _, size := range []int{1, len(l.recorded)} {
				if got := l.render(fold(t, l, size)); got != tt.want {
					t.Errorf("batches of %d:\n got:\n%s\nwant:\n%s", size, got, tt.want)
				}
			}
		})
	}
}

func TestApplyLoadsAndSavesOncePerBatch(t *testing.T) {
	t.Parallel()
	l := newLog()
	l.register(t, examples("1.0.0", onPing("a", true)))
	l.disable(t, "examples.a")
	l.register(t, examples("1.0.1", onPing("a", true), onPing("b", true)))
	l.enable(t, "examples.a")
	m := memtx.New()
	if err := catalog.Apply(context.Background(), m, l.recorded); err != nil {
		t.Fatal(err)
	}
	// LoadPacks + LoadComponents; SavePacks + SaveComponents.
	if m.Loads != 2 || m.Saves != 2 {
		t.Errorf("4 events in one batch: %d loads, %d saves; want 2 and 2", m.Loads, m.Saves)
	}
}

func TestApplyRejectsAnUndecodableEvent(t *testing.T) {
	t.Parallel()
	bad := eventstore.Recorded{ID: ulid.Make(), StreamID: "pack-x", StreamVersion: 1, Type: "PackRegistered",
		Data: json.RawMessage(`{"ref": 7}`), Position: eventstore.Position{Minor: 1}}
	err := catalog.Apply(context.Background(), memtx.New(), []eventstore.Recorded{bad})
	if err == nil || !strings.Contains(err.Error(), bad.ID.String()) {
		t.Errorf("apply an event whose data does not decode: err = %v, want one naming event %s", err, bad.ID)
	}
}

// TestRulesAreEnabledAsTheRegistrySaysTheyAre folds random histories of registrations,
// reloads, switches and retirements into this read model and into projections/registry, the
// catalogue the rule matcher uses: for every live rule they must agree, or the API would show
// a rule enabled that never fires (or the reverse).
func TestRulesAreEnabledAsTheRegistrySaysTheyAre(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		l := newLog()
		names := []string{"a", "b", "c", "d"}
		for range 5 + rnd.IntN(25) {
			ref := "examples." + names[rnd.IntN(len(names))]
			switch n := rnd.IntN(10); {
			case n < 4:
				var rules []pack.Rule
				for _, name := range names {
					if rnd.IntN(4) > 0 {
						rules = append(rules, onPing(name, rnd.IntN(2) == 0))
					}
				}
				l.register(t, examples("1.0.0", rules...))
			case n < 6:
				l.enable(t, ref)
			case n < 9:
				l.disable(t, ref)
			default:
				l.retire(t, "examples")
			}
		}
		reg := registry.New(registry.Config{})
		reg.Apply(l.recorded...)
		want := map[string]bool{}
		for _, r := range reg.Rules() {
			want[r.Ref] = r.Enabled
		}
		for _, size := range []int{1, 3, len(l.recorded)} {
			got := map[string]bool{}
			for k, c := range fold(t, l, size).Components {
				if k.Kind == pack.KindRule && !c.Retired() {
					got[k.Ref] = c.Enabled
				}
			}
			if !maps.Equal(got, want) {
				t.Fatalf("seed %d, batches of %d: live rules %v, the registry says %v", seed, size, got, want)
			}
		}
	}
}
