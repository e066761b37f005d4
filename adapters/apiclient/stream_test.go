package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

type bundle struct {
	store *memstore.Store
	srv   *httptest.Server
	conns *atomic.Int32 // stream connections opened
}

func setup(t *testing.T, heartbeat time.Duration) (*apiclient.Client, bundle) {
	t.Helper()
	s := memstore.New(memstore.Config{})
	api := httpapi.New(httpapi.Config{
		Subscribe: s.Subscribe, Head: s.Head, ReadAll: s.ReadAll, StreamHeartbeat: heartbeat,
	})
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/stream" {
			conns.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := apiclient.New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, bundle{store: s, srv: srv, conns: &conns}
}

func (b bundle) append(t *testing.T, id string) eventstore.Recorded {
	t.Helper()
	ctx := context.Background()
	p, err := eventstore.NewProposed(execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}, event.Metadata{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Append(ctx, execution.StreamID(id), eventstore.NoStream, p); err != nil {
		t.Fatal(err)
	}
	rs, err := b.store.ReadStream(ctx, execution.StreamID(id))
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

func open(t *testing.T, c *apiclient.Client, q apiclient.StreamQuery) *apiclient.EventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := c.OpenStream(ctx, q)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func next(t *testing.T, st *apiclient.EventStream, want eventstore.Recorded) {
	t.Helper()
	e, err := st.Next()
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	if e.EventID != want.ID.String() || e.Position != want.Position.String() {
		t.Fatalf("next = %s at %s, want %s at %s", e.EventID, e.Position, want.ID, want.Position)
	}
	if st.LastID() != want.Position.String() {
		t.Fatalf("last id %s after event at %s", st.LastID(), want.Position)
	}
}

// A dropped connection costs nothing: Next reconnects after the last event it returned and
// goes on with exactly the events that follow it.
func TestStreamReconnectsWithoutLossOrRepeat(t *testing.T) {
	t.Parallel()
	c, b := setup(t, time.Hour)
	b.append(t, "before") // before the stream: not in it
	st := open(t, c, apiclient.StreamQuery{})
	next(t, st, b.append(t, "a"))
	next(t, st, b.append(t, "b"))

	b.srv.CloseClientConnections()
	missed := []eventstore.Recorded{b.append(t, "c"), b.append(t, "d")}
	for _, want := range missed {
		next(t, st, want)
	}
	if n := b.conns.Load(); n != 2 {
		t.Errorf("%d stream connections, want 2 (one reconnection)", n)
	}
}

// The stream's start is fixed when OpenStream returns: an event appended while the first
// connection is already gone still comes.
func TestStreamDroppedBeforeItsFirstEventResumesAtItsStart(t *testing.T) {
	t.Parallel()
	c, b := setup(t, time.Hour)
	st := open(t, c, apiclient.StreamQuery{})
	b.srv.CloseClientConnections()
	first := b.append(t, "a")
	next(t, st, first)
}

// A connection that goes silent (no heartbeat within IdleTimeout) is taken for dead and
// reopened.
func TestStreamReopensASilentConnection(t *testing.T) {
	t.Parallel()
	c, b := setup(t, time.Hour) // the server sends no heartbeat in time
	st := open(t, c, apiclient.StreamQuery{IdleTimeout: 50 * time.Millisecond})
	got := make(chan error, 1)
	go func() {
		_, err := st.Next()
		got <- err
	}()
	deadline := time.Now().Add(15 * time.Second)
	for b.conns.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after 15s, want the silent stream reopened", b.conns.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling the server's connection count
	}
	b.append(t, "a")
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("next: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no event 15s after it was appended")
	}
}

func TestStreamFiltersAndRejections(t *testing.T) {
	t.Parallel()
	c, b := setup(t, time.Hour)
	st := open(t, c, apiclient.StreamQuery{Executions: []string{"b"}, Types: []string{"ExecutionRequested"}})
	b.append(t, "a")
	want := b.append(t, "b")
	next(t, st, want)

	_, err := c.OpenStream(context.Background(), apiclient.StreamQuery{Types: []string{"NoSuchEvent"}})
	var apiErr *apiclient.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != httpapi.CodeBadRequest || apiErr.Field != "type" {
		t.Fatalf("open with an unknown type: %v, want a bad_request error on field type", err)
	}
}

func TestStreamEndsWithItsContext(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.OpenStream(ctx, apiclient.StreamQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	done := make(chan error, 1)
	go func() {
		_, err := st.Next()
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("next after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("next still waiting 15s after its context ended")
	}
}

func TestLogPages(t *testing.T) {
	t.Parallel()
	c, b := setup(t, time.Hour)
	var want []string
	for _, id := range []string{"a", "b", "c"} {
		want = append(want, b.append(t, id).ID.String())
	}
	ctx := context.Background()
	first, err := c.Log(ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 2 || first.NextCursor == nil {
		t.Fatalf("first page: %d items, next %v; want 2 and a cursor", len(first.Items), first.NextCursor)
	}
	rest, err := c.Log(ctx, *first.NextCursor, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{first.Items[0].EventID, first.Items[1].EventID}
	for _, e := range rest.Items {
		got = append(got, e.EventID)
	}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || rest.NextCursor != nil {
		t.Fatalf("pages gave %v (next %v), want %v and null", got, rest.NextCursor, want)
	}
}
