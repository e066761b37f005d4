package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

const waitLimit = 15 * time.Second

// store is the event store and its head, as the composition root passes them.
type store interface {
	eventstore.Store
	Head(ctx context.Context) (eventstore.Position, error)
}

func newMemStore(*testing.T) store { return memstore.New(memstore.Config{}) }

func newPgStore(t *testing.T) store {
	s, err := pgstore.New(context.Background(), pgtest.New(t).Pool, pgstore.Config{})
	if err != nil {
		t.Fatalf("new pgstore: %v", err)
	}
	return s
}

var stores = []struct {
	name string
	new  func(*testing.T) store
}{{"memstore", newMemStore}, {"pgstore", newPgStore}}

// feedServer serves the stream and log routes on s, with a short heartbeat so tests see it.
func feedServer(t *testing.T, s store, edit ...func(*httpapi.Config)) *httptest.Server {
	t.Helper()
	cfg := httpapi.Config{
		Subscribe:       s.Subscribe,
		Head:            s.Head,
		ReadAll:         s.ReadAll,
		StreamHeartbeat: 20 * time.Millisecond,
	}
	for _, e := range edit {
		e(&cfg)
	}
	srv := httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// appendOne appends one execution event to the execution's stream and returns it recorded.
func appendOne(t *testing.T, s eventstore.Store, e event.Event, executionID, traceTag string) eventstore.Recorded {
	t.Helper()
	ctx := context.Background()
	p, err := eventstore.NewProposed(e, event.Metadata{Actor: "test", TraceTag: traceTag})
	if err != nil {
		t.Fatal(err)
	}
	stream := execution.StreamID(executionID)
	if _, err := s.Append(ctx, stream, eventstore.Any, p); err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	events, err := s.ReadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range events {
		if r.ID == p.ID {
			return r
		}
	}
	t.Fatalf("event %s not in its stream", p.ID)
	return eventstore.Recorded{}
}

func requested(id string) event.Event {
	return execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}
}

func running(id string) event.Event {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Scheduled, To: execution.Running}
}

func head(t *testing.T, s store) eventstore.Position {
	t.Helper()
	p, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitVisible waits until e is below the head. On Postgres an event stays invisible while an
// older transaction runs — any, in the whole database, so other tests' too — and a stream
// opened meanwhile rightly delivers it as new.
func waitVisible(t *testing.T, s store, e eventstore.Recorded) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for head(t, s).Less(e.Position) {
		if time.Now().After(deadline) {
			t.Fatalf("event %s still invisible after %s", e.Position, waitLimit)
		}
		time.Sleep(time.Millisecond) // polling the store's head; there is no signal to wait on
	}
}

// frame is one block of an event stream, up to a blank line.
type frame struct {
	ID, Event, Data string
	HasID           bool
	Comments        []string
}

// sse is an open event stream whose frames arrive on a channel.
type sse struct {
	frames <-chan frame
	close  func()
	start  string // the id of the opening frame: where the stream starts
}

// openStream requests the stream and returns once its opening comment arrived: from then
// on every appended event that matches is due.
func openStream(t *testing.T, srv *httptest.Server, query string, header http.Header) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/stream?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("open stream ?%s: %d %s", query, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	frames := make(chan frame, 256)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		var f frame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				frames <- f
				f = frame{}
			case strings.HasPrefix(line, ":"):
				f.Comments = append(f.Comments, strings.TrimSpace(line[1:]))
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "id":
					f.ID, f.HasID = v, true
				case "event":
					f.Event = v
				case "data":
					f.Data += v
				}
			}
		}
	}()
	st := &sse{frames: frames, close: func() { cancel(); resp.Body.Close() }}
	t.Cleanup(st.close)
	first := st.next(t)
	if len(first.Comments) == 0 || first.Comments[0] != "attune event stream" || !first.HasID || first.Data != "" {
		t.Fatalf("first frame %+v, want the opening comment with the start position as id", first)
	}
	st.start = first.ID
	return st
}

func (s *sse) next(t *testing.T) frame {
	t.Helper()
	return s.nextBy(t, time.Now().Add(waitLimit))
}

func (s *sse) nextBy(t *testing.T, deadline time.Time) frame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatal("stream ended")
		}
		return f
	case <-time.After(time.Until(deadline)):
		t.Fatalf("no awaited frame within %s", waitLimit)
	}
	return frame{}
}

// events returns the data frames received until a frame (data or heartbeat) carries the id
// until: with the log's head as until, everything the stream will send for what is stored.
func (s *sse) events(t *testing.T, until eventstore.Position) []frame {
	t.Helper()
	var out []frame
	deadline := time.Now().Add(waitLimit) // heartbeats keep coming: bound the whole wait
	for {
		f := s.nextBy(t, deadline)
		if f.Data != "" {
			out = append(out, f)
		}
		if f.HasID && f.ID == until.String() {
			return out
		}
	}
}

// wantEvents checks that frames are exactly the events, in order, in the wire form.
func wantEvents(t *testing.T, frames []frame, events ...eventstore.Recorded) {
	t.Helper()
	var got, want []string
	for _, f := range frames {
		got = append(got, f.ID+" "+f.Event)
	}
	for _, e := range events {
		want = append(want, e.Position.String()+" "+e.Type)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stream sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, f := range frames {
		wantData, err := json.Marshal(httpapi.EnvelopeOf(events[i]))
		if err != nil {
			t.Fatal(err)
		}
		if f.Data != string(wantData) {
			t.Errorf("data of event %d:\n got %s\nwant %s", i, f.Data, wantData)
		}
	}
}

func TestStreamPushesEventsAsTheyAreAppended(t *testing.T) {
	t.Parallel()
	for _, headSource := range []string{"Head", "reading to the end"} {
		t.Run(headSource, func(t *testing.T) {
			t.Parallel()
			s := newMemStore(t)
			srv := feedServer(t, s, func(c *httpapi.Config) {
				if headSource != "Head" {
					c.Head = nil
				}
			})
			// Stored before the stream opens: a stream without a cursor is live only.
			appendOne(t, s, requested("old1"), "old1", "")
			appendOne(t, s, running("old1"), "old1", "")

			st := openStream(t, srv, "", nil)
			var appended []eventstore.Recorded
			for _, id := range []string{"new1", "new2"} {
				appended = append(appended, appendOne(t, s, requested(id), id, "tag-"+id))
				// Each event comes while the next is not even appended yet: live.
				got := st.events(t, appended[len(appended)-1].Position)
				wantEvents(t, got, appended[len(appended)-1])
			}
		})
	}
}

func TestStreamFilters(t *testing.T) {
	t.Parallel()
	s := newMemStore(t)
	srv := feedServer(t, s)
	a1 := appendOne(t, s, requested("a"), "a", "red")
	b1 := appendOne(t, s, requested("b"), "b", "blue")
	a2 := appendOne(t, s, running("a"), "a", "red")
	c1 := appendOne(t, s, requested("c"), "c", "red")
	b2 := appendOne(t, s, running("b"), "b", "blue")
	end := head(t, s)

	for _, tc := range []struct {
		query string
		want  []eventstore.Recorded
	}{
		{"", []eventstore.Recorded{a1, b1, a2, c1, b2}},
		{"type=ExecutionStatusChanged", []eventstore.Recorded{a2, b2}},
		{"type=ExecutionStatusChanged,ExecutionRequested", []eventstore.Recorded{a1, b1, a2, c1, b2}},
		{"type=ExecutionRequested&type=ExecutionStatusChanged", []eventstore.Recorded{a1, b1, a2, c1, b2}},
		{"execution=b", []eventstore.Recorded{b1, b2}},
		{"execution=a&execution=c", []eventstore.Recorded{a1, a2, c1}},
		{"stream=execution-c", []eventstore.Recorded{c1}},
		{"trace_tag=red", []eventstore.Recorded{a1, a2, c1}},
		{"trace_tag=red&type=ExecutionRequested", []eventstore.Recorded{a1, c1}},
		{"execution=b&trace_tag=red", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			// From the start of the log, so the filter sees every event; the frames end at
			// the head, with the last event or with a heartbeat moving the id past the rest.
			st := openStream(t, srv, tc.query+"&after=0-0", nil)
			wantEvents(t, st.events(t, end), tc.want...)
		})
	}
}

// A client that loses its connection and reconnects with Last-Event-ID gets exactly the
// events it missed: none lost, none twice.
func TestStreamResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			s := sc.new(t)
			srv := feedServer(t, s)
			waitVisible(t, s, appendOne(t, s, requested("before"), "before", ""))

			st := openStream(t, srv, "", nil)
			if st.start != head(t, s).String() {
				t.Fatalf("stream without a cursor starts after %s, want the head %s", st.start, head(t, s))
			}
			seen := []eventstore.Recorded{appendOne(t, s, requested("x1"), "x1", ""), appendOne(t, s, running("x1"), "x1", "")}
			got := st.events(t, seen[1].Position)
			wantEvents(t, got, seen...)
			st.close()

			missed := []eventstore.Recorded{
				appendOne(t, s, requested("x2"), "x2", ""),
				appendOne(t, s, running("x2"), "x2", ""),
				appendOne(t, s, requested("x3"), "x3", ""),
			}
			// The URL's after is the stream's original start; the header, newer, wins.
			again := openStream(t, srv, "after=0-0", http.Header{"Last-Event-ID": {got[1].ID}})
			if again.start != got[1].ID {
				t.Fatalf("reconnected stream starts after %s, want the Last-Event-ID %s", again.start, got[1].ID)
			}
			wantEvents(t, again.events(t, missed[2].Position), missed...)
			live := appendOne(t, s, running("x3"), "x3", "")
			wantEvents(t, again.events(t, live.Position), live)
		})
	}
}

// A heartbeat keeps a quiet stream alive and, when the events examined since the last one sent
// all failed the filter, moves the client's last event id past them: a reconnect does not scan
// them again.
func TestStreamHeartbeatAdvancesTheLastEventID(t *testing.T) {
	t.Parallel()
	s := newMemStore(t)
	srv := feedServer(t, s)
	st := openStream(t, srv, "execution=quiet", nil)
	other := appendOne(t, s, requested("busy"), "busy", "")
	deadline := time.Now().Add(waitLimit)
	for {
		f := st.nextBy(t, deadline)
		if f.Data != "" {
			t.Fatalf("stream filtered on execution quiet sent %+v", f)
		}
		if f.HasID {
			if len(f.Comments) == 0 || f.ID != other.Position.String() {
				t.Fatalf("frame %+v, want a heartbeat comment with id %s", f, other.Position)
			}
			break
		}
	}
	f := st.next(t)
	if f.HasID || len(f.Comments) != 1 || f.Comments[0] != "heartbeat" {
		t.Fatalf("next frame on a quiet stream %+v, want a bare heartbeat comment", f)
	}
}

// When the client goes away, the stream stops following the log.
func TestStreamStopsWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	s := newMemStore(t)
	ended := make(chan error, 1)
	srv := feedServer(t, s, func(c *httpapi.Config) {
		c.Subscribe = func(ctx context.Context, after eventstore.Position, fn func(context.Context, []eventstore.Recorded) error) error {
			err := s.Subscribe(ctx, after, fn)
			ended <- err
			return err
		}
	})
	st := openStream(t, srv, "", nil)
	select {
	case err := <-ended:
		t.Fatalf("subscription ended while the client was connected: %v", err)
	default:
	}
	st.close()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("subscription ended with %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("subscription still running %s after the client left", waitLimit)
	}
}

// A server shutting down ends its streams, or http.Server.Shutdown would wait for them.
func TestStreamEndsWhenTheServerStops(t *testing.T) {
	t.Parallel()
	stopping := make(chan struct{})
	srv := feedServer(t, newMemStore(t), func(c *httpapi.Config) { c.Stopping = stopping })
	st := openStream(t, srv, "", nil)
	close(stopping)
	deadline := time.After(waitLimit)
	for {
		select {
		case _, open := <-st.frames:
			if !open {
				return
			}
		case <-deadline:
			t.Fatalf("stream still open %s after the server began to stop", waitLimit)
		}
	}
}

// plainWriter hides the Flush of the writer it wraps, as a careless middleware would.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }

// Behind a writer that cannot flush, events would wait in a buffer: the stream says so
// rather than seeming to work.
func TestStreamRefusesAWriterThatCannotFlush(t *testing.T) {
	t.Parallel()
	s := newMemStore(t)
	api := httpapi.New(httpapi.Config{Subscribe: s.Subscribe, Head: s.Head, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(plainWriter{w}, r)
	}))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/stream", nil)
	wantError(t, srv, req, http.StatusInternalServerError, httpapi.CodeInternal, "")
}

func TestStreamRejectsBadParameters(t *testing.T) {
	t.Parallel()
	srv := feedServer(t, newMemStore(t))
	for _, tc := range []struct {
		query, lastEventID, field string
	}{
		{"after=12", "", "after"},
		{"after=a-b", "", "after"},
		{"", "nope", "Last-Event-ID"},
		{"type=ExecutionRequestd", "", "type"},
	} {
		t.Run(tc.query+tc.lastEventID, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/stream?"+tc.query, nil)
			if tc.lastEventID != "" {
				req.Header.Set("Last-Event-ID", tc.lastEventID)
			}
			wantError(t, srv, req, http.StatusBadRequest, httpapi.CodeBadRequest, tc.field)
		})
	}
}

// wantError sends req and checks the answer is the API's error shape with that status, code
// and field.
func wantError(t *testing.T, srv *httptest.Server, req *http.Request, status int, code, field string) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e httpapi.Error
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: %d %s: not an API error: %v", req.URL, resp.StatusCode, body, err)
	}
	if resp.StatusCode != status || e.Code != code || e.Field != field {
		t.Fatalf("%s: %d %s, want %d with code %s and field %q", req.URL, resp.StatusCode, body, status, code, field)
	}
	if e.Message == "" {
		t.Errorf("%s: error without a message", req.URL)
	}
}

// BenchmarkStream measures events delivered per second to one stream client, each event
// encoded, written and flushed on its own.
func BenchmarkStream(b *testing.B) {
	s := memstore.New(memstore.Config{})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Subscribe: s.Subscribe, Head: s.Head}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/stream")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Scan() // the opening comment: the stream's start is fixed
	ctx := context.Background()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i += 100 {
			batch := make([]eventstore.Proposed, 0, 100)
			for j := i; j < min(i+100, b.N); j++ {
				p, _ := eventstore.NewProposed(requested(fmt.Sprint(j)), event.Metadata{Actor: "bench"})
				batch = append(batch, p)
			}
			if _, err := s.Append(ctx, fmt.Sprintf("execution-%d", i), eventstore.Any, batch...); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	for n := 0; n < b.N && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
