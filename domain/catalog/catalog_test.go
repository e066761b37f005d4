package catalog_test

import (
	"slices"
	"testing"

	"github.com/attune-go/attune/domain/catalog"
)

func TestNewMakesAFreshPayloadOfEveryListedType(t *testing.T) {
	t.Parallel()
	types := catalog.Types()
	if !slices.IsSorted(types) || len(types) == 0 {
		t.Fatalf("Types() = %v, want a sorted, non-empty list", types)
	}
	for _, typ := range types {
		a, ok := catalog.New(typ)
		if !ok || a.EventType() != typ {
			t.Fatalf("New(%q) = %v, %t", typ, a, ok)
		}
		b, _ := catalog.New(typ)
		if a == b {
			t.Fatalf("New(%q) returned the same payload twice: decoding would share it", typ)
		}
	}
	if _, ok := catalog.New("ExecutionTeleported"); ok {
		t.Fatal("an unknown type is known")
	}
}

func TestTheCatalogueHoldsTheDesignVocabulary(t *testing.T) {
	t.Parallel()
	// Design §2 names these; they may be refined but not dropped.
	for _, typ := range []string{
		"PackRegistered", "RuleEnabled", "RuleDisabled", "EventFired", "EnforcementCreated",
		"EnforcementProcessed", "EnforcementSkipped", "ExecutionRequested", "ExecutionScheduled",
		"ExecutionStatusChanged", "WorkerRegistered", "WorkerDeregistered", "InquiryCreated",
		"InquiryResponded", "InquiryTimedOut", "ExecutionDelayed",
	} {
		if _, ok := catalog.New(typ); !ok {
			t.Errorf("%s is missing from the catalogue", typ)
		}
	}
}
