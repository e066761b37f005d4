package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/catalog"
	"github.com/attune-go/attune/domain/execution"
)

const (
	// defaultHeartbeat keeps proxies (which drop connections idle for a minute or so) and
	// clients (which reconnect when a stream stays silent) from taking a quiet log for a
	// dead connection.
	defaultHeartbeat = 15 * time.Second
	// streamWriteTimeout bounds one write to a stream client: one that reads nothing for
	// this long is dropped, so a stuck client holds no subscription for ever. It also lifts
	// the server's own WriteTimeout, meant for ordinary requests, off the stream.
	streamWriteTimeout = time.Minute
	// streamRetry is the reconnection delay the stream suggests to EventSource clients.
	streamRetry = 2 * time.Second
	// headPage is the page size when the head is found by reading the log to its end.
	headPage = 1000
)

// registerFeedRoutes adds the routes that expose the log itself: the live stream (SSE), the
// paginated raw log for auditors, and the Prometheus metrics.
func (s *Server) registerFeedRoutes() {
	if s.cfg.Subscribe != nil && s.cfg.Head == nil && s.cfg.ReadAll == nil {
		panic("httpapi: Subscribe needs Head or ReadAll to find where a live-only stream starts") // wiring error
	}
	s.handle("GET /api/v1/stream", s.cfg.Subscribe != nil, s.stream)
	s.handle("GET /api/v1/log", s.cfg.ReadAll != nil, s.readLog)
	if s.cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", s.cfg.Metrics)
	}
}

// streamFilter selects the events a stream client asked for: within a kind of filter any
// value matches, across kinds all must.
type streamFilter struct {
	types, streams, traceTags map[string]bool
}

func (f streamFilter) match(e eventstore.Recorded) bool {
	return (f.types == nil || f.types[e.Type]) &&
		(f.streams == nil || f.streams[e.StreamID]) &&
		(f.traceTags == nil || f.traceTags[e.Metadata.TraceTag])
}

// listParam collects a query parameter given repeatedly or as a comma-separated list.
func listParam(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		for _, one := range strings.Split(v, ",") {
			if one = strings.TrimSpace(one); one != "" {
				out = append(out, one)
			}
		}
	}
	return out
}

func set(values []string) map[string]bool {
	if len(values) == 0 {
		return nil
	}
	m := make(map[string]bool, len(values))
	for _, v := range values {
		m[v] = true
	}
	return m
}

func parseStreamFilter(r *http.Request) (streamFilter, error) {
	types := listParam(r, "type")
	known := catalog.Types()
	for _, t := range types {
		// A misspelt type would match nothing, silently and for ever.
		if !slices.Contains(known, t) {
			return streamFilter{}, badRequest("type", "unknown event type %q; known types: %s", t, strings.Join(known, ", "))
		}
	}
	streams := listParam(r, "stream")
	for _, id := range listParam(r, "execution") {
		streams = append(streams, execution.StreamID(id))
	}
	return streamFilter{types: set(types), streams: set(streams), traceTags: set(listParam(r, "trace_tag"))}, nil
}

// streamStart is where the stream resumes: after Last-Event-ID (an EventSource reconnecting
// sends it, and it is newer than the URL's after), else after the after parameter, else at
// the head of the log: live events only.
func (s *Server) streamStart(r *http.Request) (eventstore.Position, error) {
	for _, src := range []struct{ field, value string }{
		{"Last-Event-ID", r.Header.Get("Last-Event-ID")},
		{"after", r.URL.Query().Get("after")},
	} {
		if src.value == "" {
			continue
		}
		p, err := eventstore.ParsePosition(src.value)
		if err != nil {
			return p, badRequest(src.field, "%s %q: want a position MAJOR-MINOR, as an event's id or position gives it", src.field, src.value)
		}
		return p, nil
	}
	return s.head(r.Context())
}

// head returns the position of the last event, from Config.Head or by reading to the end.
func (s *Server) head(ctx context.Context) (eventstore.Position, error) {
	if s.cfg.Head != nil {
		p, err := s.cfg.Head(ctx)
		if err != nil {
			return p, fmt.Errorf("find the head of the log: %w", err)
		}
		return p, nil
	}
	p := eventstore.Start
	for {
		batch, err := s.cfg.ReadAll(ctx, p, headPage)
		if err != nil {
			return p, fmt.Errorf("find the head of the log: %w", err)
		}
		if len(batch) == 0 {
			return p, nil
		}
		p = batch[len(batch)-1].Position
	}
}

// stream serves GET /api/v1/stream as Server-Sent Events: each event of the log that passes
// the filter, as it is appended, with its position as the SSE id so that a reconnecting
// client (Last-Event-ID) resumes exactly where it left off.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	filter, err := parseStreamFilter(r)
	if err != nil {
		return err
	}
	after, err := s.streamStart(r)
	if err != nil {
		return err
	}
	if !canFlush(w) {
		// A middleware hides the connection's Flush: events would sit in a buffer.
		return errors.New("event stream: the response writer cannot flush (a wrapping middleware lacks Flush or Unwrap)")
	}
	release, err := s.streams.acquire(streamCaller(r))
	if err != nil {
		w.Header().Set("Retry-After", "5")
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	batches := make(chan []eventstore.Recorded)
	subDone := make(chan error, 1)
	go func() {
		subDone <- s.cfg.Subscribe(ctx, after, func(ctx context.Context, batch []eventstore.Recorded) error {
			select {
			case batches <- batch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	subRunning := true
	defer func() {
		cancel()
		if subRunning {
			<-subDone
		}
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the stream
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: http.NewResponseController(w), sent: after, seen: after}
	// From here on the answer is the stream: a failure ends it, and the client reconnects.
	if err := out.opening(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(cmp.Or(s.cfg.StreamHeartbeat, defaultHeartbeat))
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Stopping:
			return nil // the client reconnects, to this server's successor
		case err := <-subDone:
			subRunning = false
			if err != nil && ctx.Err() == nil {
				s.log.ErrorContext(r.Context(), "event stream subscription failed", "after", out.seen.String(), "error", err)
			}
			return nil
		case batch := <-batches:
			if err := out.batch(batch, filter); err != nil {
				return nil // the client went away
			}
		case <-heartbeat.C:
			if err := out.heartbeat(); err != nil {
				return nil
			}
		}
	}
}

// sseWriter writes the event-stream format and flushes after every message.
type sseWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	sent eventstore.Position // the last id the client was given
	seen eventstore.Position // the last position examined, matching or not
	buf  bytes.Buffer
}

// opening tells the client the stream is established — its start is fixed: everything
// appended from now on will come — and sets its last event id to that start (a message with
// an id and no data sets it without dispatching an event), so that a client which loses the
// connection before the first event resumes there rather than at a later head.
func (o *sseWriter) opening() error {
	fmt.Fprintf(&o.buf, ": attune event stream\nid: %s\nretry: %d\n\n", o.sent, streamRetry.Milliseconds())
	return o.flush()
}

func (o *sseWriter) batch(batch []eventstore.Recorded, f streamFilter) error {
	for _, e := range batch {
		o.seen = e.Position
		if !f.match(e) {
			continue
		}
		data, err := json.Marshal(EnvelopeOf(e))
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		fmt.Fprintf(&o.buf, "id: %s\nevent: %s\n", e.Position, e.Type)
		// Marshal output holds no newline; were one there, each line needs its own field.
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			o.buf.WriteString("data: ")
			o.buf.Write(line)
			o.buf.WriteByte('\n')
		}
		o.buf.WriteByte('\n')
		o.sent = e.Position
		// Flush each event: a client tailing the log wants it now, not with the next one.
		if err := o.flush(); err != nil {
			return err
		}
	}
	return nil
}

// heartbeat sends a comment; when events were examined since the last one sent and none
// matched, it also moves the client's last event id past them (a message with an id and no
// data updates it without dispatching an event), so a reconnect does not scan them again.
func (o *sseWriter) heartbeat() error {
	o.buf.WriteString(": heartbeat\n")
	if o.sent.Less(o.seen) {
		fmt.Fprintf(&o.buf, "id: %s\n", o.seen)
		o.sent = o.seen
	}
	o.buf.WriteByte('\n')
	return o.flush()
}

func (o *sseWriter) flush() error {
	// Not every ResponseWriter supports deadlines (httptest's recorder does not); those
	// that do not leave the stream to the server's own timeouts.
	if err := o.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := o.w.Write(o.buf.Bytes())
	o.buf.Reset()
	if err != nil {
		return err
	}
	return o.rc.Flush()
}

// canFlush reports whether w, or a writer it wraps, can flush, as ResponseController finds it.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}
