// Package eventstoretest is the one conformance suite of the event store port: every adapter
// (in-memory, Postgres, EventStoreDB) runs it, so they all mean the same thing by "append",
// "expected version", "cursor" and "subscribe".
//
// Usage, in an adapter's test:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) })
//	}
//
// newStore is called once per subtest; subtests run in parallel. The suite never assumes the
// store is empty: each subtest writes to streams of its own (unique names) and looks only at
// them in the global log, so it also runs against a shared server.
package eventstoretest

import (
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Timeout bounds every wait for asynchronous work (visibility in the global log, subscriber
// delivery). It is generous because a Postgres reader may legitimately wait for unrelated
// transactions on the same server to finish.
const Timeout = 15 * time.Second

// NewStore returns a store for one subtest; it registers its own cleanup with t.
type NewStore = func(t *testing.T) eventstore.Store

// Run runs the whole suite against the adapter built by newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	t.Run("Append", func(t *testing.T) { runAppend(t, newStore) })
	t.Run("Expected", func(t *testing.T) { runExpected(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { runConcurrency(t, newStore) })
	t.Run("ReadStream", func(t *testing.T) { runReadStream(t, newStore) })
	t.Run("ReadStreamFrom", func(t *testing.T) { runReadStreamFrom(t, newStore) })
	t.Run("ReadAll", func(t *testing.T) { runReadAll(t, newStore) })
	t.Run("Subscribe", func(t *testing.T) { runSubscribe(t, newStore) })
	t.Run("Chain", func(t *testing.T) { runChain(t, newStore) })
	t.Run("AppendMany", func(t *testing.T) { runAppendMany(t, newStore) })
}
