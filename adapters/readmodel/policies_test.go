package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/policies"
)

func savePolicies(t *testing.T, db *readmodel.DB, from, to eventstore.Position, ps []policies.Policy, ms []policies.Member, drop []policies.MemberKey) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, policies.Name, from, to, func(tx projections.Tx) error {
		if err := tx.SavePolicies(ctx, ps); err != nil {
			return err
		}
		return tx.SavePolicyMembers(ctx, ms, drop)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPoliciesRoundTripAndCount(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	serial := policies.Policy{Ref: "examples.serial", Pack: "examples", Action: "examples.deploy", Type: policy.Concurrency, Enabled: true,
		Description: "one at a time", Spec: json.RawMessage(`{"mode":"enqueue","threshold":1}`), File: "policies/serial.yaml",
		Refused: 2, CreatedAt: t0, UpdatedAt: t0.Add(time.Second), Position: eventstore.Position{Major: 1, Minor: 2}}
	again := policies.Policy{Ref: "examples.again", Pack: "examples", Action: "examples.flaky", Type: policy.Retry, Enabled: true,
		Spec: json.RawMessage(`{"on":["failed"],"max_retries":2}`), RetriesScheduled: 3, CreatedAt: t0, UpdatedAt: t0, Position: eventstore.Position{Minor: 3}}
	old := policies.Policy{Ref: "other.gone", Pack: "other", Action: "other.x", Type: policy.RateLimit, CreatedAt: t0, UpdatedAt: t0, RetiredAt: t0.Add(time.Hour)}
	member := func(ref, id string, hold policies.Hold, key string, st policies.State) policies.Member {
		return policies.Member{MemberKey: policies.MemberKey{Policy: ref, ExecutionID: id, Hold: hold}, Key: key, State: st, Since: t0}
	}
	savePolicies(t, db, eventstore.Start, eventstore.Position{Minor: 1}, []policies.Policy{serial, again, old}, []policies.Member{
		member(serial.Ref, "A", policies.HoldSlot, `["prod"]`, policies.Running),
		member(serial.Ref, "B", policies.HoldSlot, `["prod"]`, policies.Queued),
		member(serial.Ref, "C", policies.HoldSlot, `["stage"]`, policies.Queued),
		member(serial.Ref, "D", policies.HoldSlot, `["stage"]`, policies.Running),
	}, nil)
	savePolicies(t, db, eventstore.Position{Minor: 1}, eventstore.Position{Minor: 2}, nil, nil,
		[]policies.MemberKey{{Policy: serial.Ref, ExecutionID: "D", Hold: policies.HoldSlot}})

	got, err := db.GetPolicy(ctx, serial.Ref)
	if err != nil {
		t.Fatal(err)
	}
	want := policies.View{Policy: serial, Counts: policies.Counts{Running: 1, Queued: 2}, Keys: []policies.KeyCounts{
		{Key: `["prod"]`, Counts: policies.Counts{Running: 1, Queued: 1}}, {Key: `["stage"]`, Counts: policies.Counts{Queued: 1}}}}
	got.Spec = canon(t, got.Spec) // jsonb spaces its output
	want.Spec = canon(t, want.Spec)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("get policy\n got %+v\nwant %+v", got, want)
	}
	if _, err := db.GetPolicy(ctx, "nope.none"); !errors.Is(err, policies.ErrNotFound) {
		t.Fatalf("unknown policy: %v, want ErrNotFound", err)
	}

	page, err := db.ListPolicies(ctx, policies.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Ref != again.Ref || page.Next == "" {
		t.Fatalf("first page %+v, want examples.again and a next page", page)
	}
	page, err = db.ListPolicies(ctx, policies.Filter{Cursor: page.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Ref != serial.Ref || page.Items[0].Running != 1 || page.Next != "" {
		t.Fatalf("second page %+v, want examples.serial alone (retired policies are left out)", page)
	}
	for _, f := range []policies.Filter{{Type: policy.Retry}, {Action: "examples.flaky"}} {
		page, err := db.ListPolicies(ctx, f)
		if err != nil || len(page.Items) != 1 || page.Items[0].Ref != again.Ref {
			t.Fatalf("filter %+v: %+v %v, want examples.again", f, page.Items, err)
		}
	}
	if _, err := db.ListPolicies(ctx, policies.Filter{Type: "queue"}); err == nil {
		t.Fatal("an unknown type filtered nothing without complaint")
	}

	counts, err := db.CountPolicyMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]policies.Counts{serial.Ref: {Running: 1, Queued: 2}, again.Ref: {}}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
}
