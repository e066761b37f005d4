package keys_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/keys"
)

func TestApplyKeepsOneRowPerLiveKey(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	set := func(r kv.Ref, v string, exp time.Time) *kv.KeySet {
		return &kv.KeySet{Scope: r.Scope, Pack: r.Pack, Name: r.Name, Value: json.RawMessage(v), ExpiresAt: exp}
	}
	a, b, c := kv.SystemKey("a"), kv.PackKey("p", "b"), kv.SystemKey("c")
	var log []eventstore.Recorded
	for i, e := range []struct {
		ref kv.Ref
		e   event.Event
	}{
		{a, set(a, `1`, time.Time{})},
		{b, set(b, `"x"`, t0.Add(time.Hour))},
		{c, set(c, `true`, time.Time{})},
		{a, set(a, `2`, time.Time{})},
		{c, &kv.KeyDeleted{Scope: c.Scope, Name: c.Name}},
		{b, &kv.KeyExpired{Scope: b.Scope, Pack: b.Pack, Name: b.Name, ExpiresAt: t0.Add(time.Hour)}},
		{b, set(b, `"y"`, time.Time{})},
	} {
		p, err := eventstore.NewProposed(e.e, event.Metadata{Actor: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, eventstore.Recorded{ID: p.ID, Type: p.Type, Data: p.Data, StreamID: e.ref.StreamID(), StreamVersion: int64(i + 1),
			Metadata: p.Metadata, RecordedAt: t0.Add(time.Duration(i+1) * time.Minute), Position: eventstore.Position{Minor: uint64(i + 1)}})
	}
	want := "kv-pack-p.b pack/p/b=\"y\" by alice\nkv-system-a system//a=2 by alice"
	for _, size := range []int{1, 3, len(log)} {
		m := memtx.New()
		for batch := range slices.Chunk(log, size) {
			if err := keys.Apply(context.Background(), m, batch); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for _, id := range slices.Sorted(maps.Keys(m.Keys)) {
			k := m.Keys[id]
			got = append(got, fmt.Sprintf("%s %s/%s/%s=%s by %s", id, k.Scope, k.Pack, k.Name, k.Value, k.UpdatedBy))
		}
		if strings.Join(got, "\n") != want {
			t.Errorf("batches of %d:\n%s\nwant:\n%s", size, strings.Join(got, "\n"), want)
		}
	}
}
