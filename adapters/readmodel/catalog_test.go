package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/catalog"
)

// saveCatalog writes rows as a catalog batch would.
func saveCatalog(t *testing.T, db *readmodel.DB, from, to eventstore.Position, ps []catalog.Pack, cs []catalog.Component) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, catalog.Name, from, to, func(tx projections.Tx) error {
		if err := tx.SavePacks(ctx, ps); err != nil {
			return err
		}
		return tx.SaveComponents(ctx, cs)
	})
	if err != nil {
		t.Fatalf("save %d packs, %d components: %v", len(ps), len(cs), err)
	}
}

// canon re-encodes JSON as every comparison sees it (jsonb reorders keys and drops spaces).
func canon(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

func TestCatalogRowsRoundTripEveryField(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	full := catalog.Pack{
		Ref: "examples", Version: "1.2.0", Description: "Example automations", Config: json.RawMessage(`{"greeting": "hello"}`),
		Digest: "abc", Path: "/srv/packs/examples", RetiredReason: "replaced",
		Components: []pack.Component{{Kind: pack.KindAction, Ref: "examples.shout"}, {Kind: pack.KindRule, Ref: "examples.r"}},
		CreatedAt:  at, UpdatedAt: at.Add(time.Minute), RetiredAt: at.Add(2 * time.Minute), StreamVersion: 3, Position: pos(9),
	}
	sparse := catalog.Pack{Ref: "core", Version: "1.0.0", CreatedAt: at, UpdatedAt: at, StreamVersion: 1, Position: pos(1)}
	rule := catalog.Component{
		Kind: pack.KindRule, Ref: "examples.r", Pack: "examples", Definition: json.RawMessage(`{"ref": "examples.r", "enabled": true}`),
		Trigger: "examples.ping", Action: "examples.shout", Enabled: false, FileEnabled: true, FileSaid: pos(2),
		Switch:    &catalog.Switch{Enabled: false, Actor: "alice", Reason: "noisy", At: at.Add(time.Minute), Position: pos(5)},
		CreatedAt: at, UpdatedAt: at.Add(time.Minute), RetiredAt: at.Add(2 * time.Minute), Position: pos(9),
	}
	action := catalog.Component{Kind: pack.KindAction, Ref: "examples.shout", Pack: "examples", Definition: json.RawMessage(`{}`),
		Enabled: true, CreatedAt: at, UpdatedAt: at, Position: pos(2)}
	saveCatalog(t, db, eventstore.Start, pos(9), []catalog.Pack{full, sparse}, []catalog.Component{rule, action})

	for _, want := range []catalog.Pack{full, sparse} {
		got, err := db.GetPack(ctx, want.Ref)
		if err != nil {
			t.Fatal(err)
		}
		got.Config, want.Config = canon(t, got.Config), canon(t, want.Config)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("get pack %s:\n got %+v\nwant %+v", want.Ref, got, want)
		}
	}
	for _, want := range []catalog.Component{rule, action} {
		got, err := db.GetComponent(ctx, want.Kind, want.Ref)
		if err != nil {
			t.Fatal(err)
		}
		got.Definition, want.Definition = canon(t, got.Definition), canon(t, want.Definition)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("get %s %s:\n got %+v\nwant %+v", want.Kind, want.Ref, got, want)
		}
	}
	var loaded map[catalog.Key]catalog.Component
	err := db.Update(ctx, catalog.Name, pos(9), pos(10), func(tx projections.Tx) (err error) {
		loaded, err = tx.LoadComponents(ctx, []string{"nope"}, []string{"examples.r", "examples.shout"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// examples.shout is an action: asked for as a rule, it is not one.
	if _, ok := loaded[rule.Key()]; !ok || len(loaded) != 1 {
		t.Errorf("load components of pack nope and rules [examples.r examples.shout] = %d rows %v, want the rule only", len(loaded), loaded)
	}
	if _, err := db.GetPack(ctx, "absent"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("get an absent pack: %v, want ErrNotFound", err)
	}
	if _, err := db.GetComponent(ctx, pack.KindAction, "examples.r"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("get a rule's ref as an action: %v, want ErrNotFound", err)
	}
}

func TestListComponentsFiltersAndPages(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Now().UTC()
	var cs []catalog.Component
	for i := range 12 {
		c := catalog.Component{Kind: pack.KindRule, Ref: fmt.Sprintf("p%d.rule%02d", i%2, i), Pack: fmt.Sprintf("p%d", i%2),
			Definition: json.RawMessage(`{}`), Trigger: []string{"core.timer", "examples.ping", "examples.ping"}[i%3],
			Enabled: i%4 != 0, CreatedAt: at, UpdatedAt: at}
		if i == 11 {
			c.RetiredAt = at
		}
		cs = append(cs, c)
	}
	cs = append(cs, catalog.Component{Kind: pack.KindAction, Ref: "p0.rule00", Pack: "p0", Definition: json.RawMessage(`{}`), Enabled: true, CreatedAt: at, UpdatedAt: at})
	saveCatalog(t, db, eventstore.Start, pos(1), nil, cs)

	on, off := true, false
	list := func(f catalog.ComponentFilter) []string {
		t.Helper()
		var refs []string
		for range 50 {
			page, err := db.ListComponents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Items {
				refs = append(refs, c.Ref)
			}
			if f.Cursor = page.Next; f.Cursor == "" {
				return refs
			}
		}
		t.Fatal("more than 50 pages")
		return nil
	}
	for _, tc := range []struct {
		name string
		f    catalog.ComponentFilter
		want []string
	}{
		{"every live rule, in ref order, in pages of 4", catalog.ComponentFilter{Kind: pack.KindRule, Limit: 4},
			[]string{"p0.rule00", "p0.rule02", "p0.rule04", "p0.rule06", "p0.rule08", "p0.rule10", "p1.rule01", "p1.rule03", "p1.rule05", "p1.rule07", "p1.rule09"}},
		{"retired ones too", catalog.ComponentFilter{Kind: pack.KindRule, Pack: "p1", IncludeRetired: true},
			[]string{"p1.rule01", "p1.rule03", "p1.rule05", "p1.rule07", "p1.rule09", "p1.rule11"}},
		{"of one pack and trigger", catalog.ComponentFilter{Kind: pack.KindRule, Pack: "p0", Trigger: "core.timer"},
			[]string{"p0.rule00", "p0.rule06"}},
		{"enabled", catalog.ComponentFilter{Kind: pack.KindRule, Enabled: &on, Trigger: "examples.ping", Limit: 1},
			[]string{"p0.rule02", "p0.rule10", "p1.rule01", "p1.rule05", "p1.rule07"}},
		{"disabled", catalog.ComponentFilter{Kind: pack.KindRule, Enabled: &off}, []string{"p0.rule00", "p0.rule04", "p0.rule08"}},
		{"actions", catalog.ComponentFilter{Kind: pack.KindAction}, []string{"p0.rule00"}},
	} {
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := db.ListComponents(ctx, catalog.ComponentFilter{Kind: "widget"}); err == nil {
		t.Error("listed components of an unknown kind")
	}
}

func TestListPacksLeavesRetiredOnesOut(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Now().UTC()
	var ps []catalog.Pack
	for i, ref := range []string{"a", "b", "c", "d", "e"} {
		p := catalog.Pack{Ref: ref, Version: "1.0.0", CreatedAt: at, UpdatedAt: at}
		if i == 1 {
			p.RetiredAt = at
		}
		ps = append(ps, p)
	}
	saveCatalog(t, db, eventstore.Start, pos(1), ps, nil)
	var got []string
	for f := (catalog.PackFilter{Limit: 2}); ; {
		page, err := db.ListPacks(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			got = append(got, p.Ref)
		}
		if f.Cursor = page.Next; f.Cursor == "" {
			break
		}
	}
	if want := []string{"a", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("packs = %v, want %v", got, want)
	}
	page, err := db.ListPacks(ctx, catalog.PackFilter{IncludeRetired: true})
	if err != nil || len(page.Items) != 5 || page.Next != "" {
		t.Errorf("packs with the retired: %d (%v), next %q; want all 5 on one page", len(page.Items), err, page.Next)
	}
}
