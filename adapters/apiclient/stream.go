package apiclient

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
)

// StreamQuery selects the events of a live stream (GET /api/v1/stream). Within a field any
// value matches; across fields all must.
type StreamQuery struct {
	Types      []string // event types
	Executions []string // execution ids: their streams
	Streams    []string // stream ids
	TraceTags  []string
	// After is the position to start after: empty for the head of the log (only events
	// appended from now on), "0-0" for the whole log.
	After string
	// IdleTimeout is how long the stream may stay silent — the server sends a heartbeat
	// every 15s — before the connection is taken for dead and reopened; default 45s.
	IdleTimeout time.Duration
	// ReconnectFor is how long reconnecting may keep failing before Next gives up;
	// default 1 minute.
	ReconnectFor time.Duration
}

func (q StreamQuery) values(after string) url.Values {
	v := url.Values{}
	for name, list := range map[string][]string{"type": q.Types, "execution": q.Executions, "stream": q.Streams, "trace_tag": q.TraceTags} {
		if len(list) > 0 {
			v.Set(name, strings.Join(list, ","))
		}
	}
	if after != "" {
		v.Set("after", after)
	}
	return v
}

// EventStream is an open stream of events. Next returns them in log order; when the
// connection drops it reconnects with the last position seen (Last-Event-ID), so no event is
// lost or repeated. It is not safe for concurrent use.
type EventStream struct {
	c       *Client
	http    *http.Client
	ctx     context.Context
	q       StreamQuery
	lastID  string
	conn    *streamConn
	retries time.Duration // the next reconnection delay
}

// streamConn is one HTTP connection of a stream.
type streamConn struct {
	body   io.ReadCloser
	rd     *bufio.Reader
	cancel context.CancelFunc
	idle   *time.Timer
}

// OpenStream connects and returns once the server has fixed where the stream starts: from
// then on every appended event that matches will come out of Next. Closing the stream, or
// ending ctx, ends it.
func (c *Client) OpenStream(ctx context.Context, q StreamQuery) (*EventStream, error) {
	q.IdleTimeout = cmp.Or(q.IdleTimeout, 45*time.Second)
	q.ReconnectFor = cmp.Or(q.ReconnectFor, time.Minute)
	s := &EventStream{
		c: c, ctx: ctx, q: q, lastID: q.After,
		// No overall timeout: a stream is meant to stay open. Silence is caught by IdleTimeout.
		http: &http.Client{Transport: c.http.Transport},
	}
	conn, err := s.connect()
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return s, nil
}

// LastID is the position of the last event Next returned (or the server's last heartbeat
// moved past): pass it as StreamQuery.After to resume later.
func (s *EventStream) LastID() string { return s.lastID }

// Close ends the stream.
func (s *EventStream) Close() error {
	if s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
	return nil
}

func (sc *streamConn) close() {
	sc.idle.Stop()
	sc.cancel()
	_ = sc.body.Close()
}

func (s *EventStream) connect() (*streamConn, error) {
	path := "/api/v1/stream"
	// The first connection's after, if any, is in the URL; later ones resume through the
	// header, which the server prefers.
	if v := s.q.values(s.q.After).Encode(); v != "" {
		path += "?" + v
	}
	ctx, cancel := context.WithCancel(s.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.c.base+path, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	if s.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.c.token)
	}
	if s.c.actor != "" {
		req.Header.Set("X-Attune-Actor", s.c.actor)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w (is `attune serve` running? set --url or ATTUNE_URL)", s.c.base+path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	conn := &streamConn{body: resp.Body, rd: bufio.NewReader(resp.Body), cancel: cancel}
	// A silent connection (a proxy or the network dropped it without a word) is cut, so
	// that the read fails and Next reconnects.
	conn.idle = time.AfterFunc(s.q.IdleTimeout, cancel)
	// The opening message carries the start position as its id: read it now, so that the
	// stream's start is fixed when OpenStream returns.
	if _, _, err := s.read(conn); err != nil {
		conn.close()
		return nil, fmt.Errorf("GET %s: read the opening of the stream: %w", path, err)
	}
	return conn, nil
}

// decodeError is a message the client cannot read.
type decodeError struct{ error }

// answerError turns an error answer into an *APIError.
func answerError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	apiErr := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(raw, apiErr) != nil || apiErr.Code == "" {
		apiErr.Code = "http_" + strconv.Itoa(resp.StatusCode)
		apiErr.Message = strings.TrimSpace(string(raw))
	}
	return apiErr
}

// read reads one message: it returns the event when the message has data, ok false for
// one without (the opening, or a heartbeat that only moves the last id).
func (s *EventStream) read(conn *streamConn) (e httpapi.Envelope, ok bool, err error) {
	var (
		id    string
		hasID bool
		data  bytes.Buffer
	)
	for {
		line, err := conn.rd.ReadString('\n')
		if err != nil {
			return e, false, err
		}
		conn.idle.Reset(s.q.IdleTimeout)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "": // a comment
		case "id":
			id, hasID = value, true
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if data.Len() > 0 {
		if err := json.Unmarshal(data.Bytes(), &e); err != nil {
			return e, false, &decodeError{fmt.Errorf("decode streamed event %s: %w", id, err)}
		}
		ok = true
	}
	// Taken only once the whole message is in: a connection cut halfway through an event
	// must make the reconnect send it again.
	if hasID {
		s.lastID = id
	}
	return e, ok, nil
}

// Next returns the next event, waiting for it to be appended. It reconnects on a dropped
// connection, and fails when ctx ends, the stream is closed, the server rejects the
// reconnection, or reconnecting keeps failing for StreamQuery.ReconnectFor.
func (s *EventStream) Next() (httpapi.Envelope, error) {
	var failingSince time.Time
	for {
		if s.conn == nil {
			if err := s.ctx.Err(); err != nil {
				return httpapi.Envelope{}, err
			}
			conn, err := s.connect()
			if err != nil {
				var apiErr *APIError
				if errors.As(err, &apiErr) || s.ctx.Err() != nil {
					return httpapi.Envelope{}, cmp.Or(s.ctx.Err(), err)
				}
				if failingSince.IsZero() {
					failingSince = time.Now()
				} else if time.Since(failingSince) > s.q.ReconnectFor {
					return httpapi.Envelope{}, fmt.Errorf("event stream: reconnecting failed for %s: %w", s.q.ReconnectFor, err)
				}
				if err := s.pause(); err != nil {
					return httpapi.Envelope{}, err
				}
				continue
			}
			s.conn, s.retries = conn, 0
		}
		e, ok, err := s.read(s.conn)
		if err != nil {
			s.conn.close()
			s.conn = nil
			if s.ctx.Err() != nil {
				return httpapi.Envelope{}, s.ctx.Err()
			}
			var bad *decodeError
			if errors.As(err, &bad) {
				return httpapi.Envelope{}, bad.error // reconnecting would get the same again
			}
			continue // dropped: reconnect after the last id
		}
		if ok {
			return e, nil
		}
	}
}

// pause waits before a reconnection, doubling from 100ms up to 5s.
func (s *EventStream) pause() error {
	s.retries = min(max(2*s.retries, 100*time.Millisecond), 5*time.Second)
	t := time.NewTimer(s.retries)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-t.C:
		return nil
	}
}

// Log returns one page of the raw global log after a cursor ("" for the start).
func (c *Client) Log(ctx context.Context, after string, limit int) (httpapi.LogPage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/log"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page httpapi.LogPage
	err := c.Do(ctx, http.MethodGet, path, nil, &page)
	return page, err
}
