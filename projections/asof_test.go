package projections_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/workers"
)

// sameAsReference checks that the catalogue, trigger event, enforcement and worker read
// models of db hold exactly the rows of want (the log folded in memory), through the
// queries the API uses: retired rows included, every page.
func sameAsReference(t *testing.T, db *readmodel.DB, want *memtx.Tx, until eventstore.Position) {
	t.Helper()
	ctx := context.Background()
	same := func(what string, got, want map[string]string) {
		t.Helper()
		if len(want) == 0 {
			t.Errorf("%s as of %s: the reference is empty; pick a later cut", what, until)
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got[k] != want[k] {
				t.Errorf("%s %s as of %s:\n got %s\nwant %s", what, k, until, got[k], want[k])
				return
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s as of %s: %d rows, want %d", what, until, len(got), len(want))
		}
	}

	got, ref := map[string]string{}, map[string]string{}
	for f := (catalog.PackFilter{IncludeRetired: true, Limit: 2}); ; {
		page, err := db.ListPacks(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			p.Config = canonical(t, p.Config)
			got[p.Ref] = fmt.Sprintf("%+v", p)
		}
		if f.Cursor = page.Next; f.Cursor == "" {
			break
		}
	}
	for _, p := range want.Packs {
		p.Config = canonical(t, p.Config)
		ref[p.Ref] = fmt.Sprintf("%+v", p)
	}
	same("pack", got, ref)

	got, ref = map[string]string{}, map[string]string{}
	render := func(c catalog.Component) string {
		c.Definition = canonical(t, c.Definition)
		sw := "-"
		if c.Switch != nil {
			sw = fmt.Sprintf("%+v", *c.Switch)
		}
		c.Switch = nil
		return fmt.Sprintf("%+v switch=%s", c, sw)
	}
	for _, kind := range pack.Kinds {
		for f := (catalog.ComponentFilter{Kind: kind, IncludeRetired: true, Limit: 3}); ; {
			page, err := db.ListComponents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Items {
				got[string(kind)+" "+c.Ref] = render(c)
			}
			if f.Cursor = page.Next; f.Cursor == "" {
				break
			}
		}
	}
	for k, c := range want.Components {
		ref[string(k.Kind)+" "+k.Ref] = render(c)
	}
	same("component", got, ref)

	got, ref = map[string]string{}, map[string]string{}
	for f := (events.Filter{Limit: events.MaxLimit}); ; {
		page, err := db.ListTriggerEvents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			e.Payload = canonical(t, e.Payload)
			got[e.ID] = fmt.Sprintf("%+v", e)
		}
		if f.Cursor = page.Next; f.Cursor == "" {
			break
		}
	}
	for _, e := range want.TriggerEvents {
		e.Payload = canonical(t, e.Payload)
		ref[e.ID] = fmt.Sprintf("%+v", e)
	}
	same("trigger event", got, ref)

	got, ref = map[string]string{}, map[string]string{}
	for f := (enforcements.Filter{Limit: enforcements.MaxLimit}); ; {
		page, err := db.ListEnforcements(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Items {
			x.Parameters = canonical(t, x.Parameters)
			got[x.ID] = fmt.Sprintf("%+v", x)
		}
		if f.Cursor = page.Next; f.Cursor == "" {
			break
		}
	}
	for _, x := range want.Enforcements {
		x.Parameters = canonical(t, x.Parameters)
		ref[x.ID] = fmt.Sprintf("%+v", x)
	}
	same("enforcement", got, ref)

	page, err := db.ListWorkers(ctx, workers.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	wantWorkers := slices.SortedFunc(maps.Values(want.Workers), func(a, b workers.Worker) int { return compare(a.ID, b.ID) })
	if !reflect.DeepEqual(page.Items, wantWorkers) {
		t.Errorf("workers as of %s:\n got %+v\nwant %+v", until, page.Items, wantWorkers)
	}
}
