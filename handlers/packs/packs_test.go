package packs_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/packs"
)

func examples(digest string, rules ...string) pack.PackRegistered {
	p := pack.PackRegistered{
		Ref: "examples", Version: "1.0.0", Digest: digest, Path: "/packs/examples",
		Triggers: []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook}},
		Actions:  []pack.Action{{Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerShell, EntryPoint: "shout.sh"}},
	}
	for _, r := range rules {
		p.Rules = append(p.Rules, pack.Rule{Ref: "examples." + r, Name: r, Enabled: true, Trigger: "examples.ping", Action: "examples.shout"})
	}
	return p
}

func script(t *testing.T, store eventstore.Store, stream string) string {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return handlertest.Script(recs)
}

func TestRegisterRecordsSnapshotsAndSkipsUnchangedOnes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New(memstore.Config{})

	res, err := packs.Register(ctx, store, examples("aa", "a", "b"), "alice")
	if err != nil || res.Outcome != packs.Registered || res.Version != 1 {
		t.Fatalf("first Register = %+v, %v; want registered at version 1", res, err)
	}
	res, err = packs.Register(ctx, store, examples("aa", "a", "b"), "alice")
	if err != nil || res.Outcome != packs.Unchanged || res.Version != 1 {
		t.Fatalf("same digest Register = %+v, %v; want unchanged", res, err)
	}
	moved := examples("aa", "a", "b")
	moved.Path = "/elsewhere/examples"
	if res, err = packs.Register(ctx, store, moved, "alice"); err != nil || res.Outcome != packs.Updated {
		t.Fatalf("same digest from another directory = %+v, %v; want updated (workers look there)", res, err)
	}
	res, err = packs.Register(ctx, store, examples("bb", "a"), "bob")
	if err != nil || res.Outcome != packs.Updated || res.Version != 3 {
		t.Fatalf("new digest Register = %+v, %v; want updated at version 3", res, err)
	}
	if want := []pack.Component{{Kind: pack.KindRule, Ref: "examples.b"}}; !slices.Equal(res.Retired, want) {
		t.Errorf("Retired = %v, want %v", res.Retired, want)
	}
	recs, err := store.ReadStream(ctx, pack.StreamID("examples"))
	if err != nil {
		t.Fatal(err)
	}
	if md := recs[2].Metadata; md.Actor != "bob" || md.CorrelationID != recs[2].ID.String() {
		t.Errorf("metadata = %+v, want actor bob correlated with itself", md)
	}

	if res, err = packs.Retire(ctx, store, "examples", "no longer used", "carol"); err != nil || res.Outcome != packs.Retired || len(res.Retired) != 3 {
		t.Fatalf("Retire = %+v, %v", res, err)
	}
	if _, err := packs.Retire(ctx, store, "examples", "again", "carol"); !errors.Is(err, packs.ErrUnknownPack) {
		t.Errorf("retire a retired pack = %v, want ErrUnknownPack", err)
	}
	if res, err = packs.Register(ctx, store, examples("bb", "a"), "bob"); err != nil || res.Outcome != packs.Registered {
		t.Errorf("Register after retirement = %+v, %v; want registered (even with the same digest)", res, err)
	}
}

// racing appends a registration of its own right before the first append through it, as a
// second operator reloading the same pack would.
type racing struct {
	*memstore.Store
	rival pack.PackRegistered
	done  atomic.Bool
}

func (r *racing) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if !r.done.Swap(true) {
		p, err := eventstore.NewProposed(r.rival, event.Metadata{Actor: "rival"})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if _, err := r.Store.Append(ctx, stream, eventstore.Any, p); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return r.Store.Append(ctx, stream, expected, events...)
}

func TestAConcurrentReloadIsDecidedAgainOverTheNewState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &racing{Store: memstore.New(memstore.Config{}), rival: examples("rival", "a", "b")}
	res, err := packs.Register(ctx, store, examples("mine", "a"), "alice")
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	// Decided over the rival's snapshot: rule b, which the rival added, is retired by mine.
	if res.Outcome != packs.Updated || res.Version != 2 || !slices.Equal(res.Retired, []pack.Component{{Kind: pack.KindRule, Ref: "examples.b"}}) {
		t.Errorf("Register = %+v, want an update over the rival's registration retiring examples.b", res)
	}
}

func TestSetRuleEnabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	if _, err := packs.SetRuleEnabled(ctx, store, "examples.a", false, "alice"); !errors.Is(err, packs.ErrUnknownRule) {
		t.Errorf("switch a rule of an unknown pack = %v, want ErrUnknownRule", err)
	}
	if _, err := packs.Register(ctx, store, examples("aa", "a"), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := packs.SetRuleEnabled(ctx, store, "examples.nope", false, "alice"); !errors.Is(err, packs.ErrUnknownRule) {
		t.Errorf("switch an unknown rule = %v, want ErrUnknownRule", err)
	}
	if _, err := packs.SetRuleEnabled(ctx, store, "nodot", false, "alice"); !errors.Is(err, packs.ErrUnknownRule) {
		t.Errorf("switch a malformed ref = %v, want ErrUnknownRule", err)
	}

	steps := []struct {
		enabled, changed bool
	}{
		{true, false}, // the file enables it already
		{false, true},
		{false, false},
		{true, true},
		{false, true}, // disabled then at once enabled then disabled: every switch recorded
	}
	for i, s := range steps {
		changed, err := packs.SetRuleEnabled(ctx, store, "examples.a", s.enabled, "alice")
		if err != nil || changed != s.changed {
			t.Errorf("step %d: SetRuleEnabled(%v) = %v, %v; want changed=%v", i, s.enabled, changed, err, s.changed)
		}
	}
	want := "RuleDisabled rule=examples.a\nRuleEnabled rule=examples.a\nRuleDisabled rule=examples.a"
	if got := script(t, store, rule.StreamID("examples.a")); got != want {
		t.Errorf("rule stream:\n%s\nwant:\n%s", got, want)
	}

	// A reload of the unchanged file keeps the operator's switch.
	if _, err := packs.Register(ctx, store, examples("bb", "a"), "alice"); err != nil {
		t.Fatal(err)
	}
	if changed, err := packs.SetRuleEnabled(ctx, store, "examples.a", false, "alice"); err != nil || changed {
		t.Errorf("after a reload, disable = %v, %v; want unchanged (still disabled)", changed, err)
	}
}

func TestRegisterCoreIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	first, err := packs.RegisterCore(ctx, store)
	if err != nil || first.Outcome != packs.Registered {
		t.Fatalf("RegisterCore = %+v, %v", first, err)
	}
	again, err := packs.RegisterCore(ctx, store)
	if err != nil || again.Outcome != packs.Unchanged || again.Version != 1 {
		t.Errorf("RegisterCore again = %+v, %v; want unchanged at version 1", again, err)
	}
}
