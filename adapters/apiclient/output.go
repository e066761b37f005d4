package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
)

// outputReconnectFor bounds how long FollowOutput keeps trying to reconnect a dropped stream.
const outputReconnectFor = time.Minute

// FollowOutput follows an execution's live output (GET /api/v1/executions/{id}/output, SSE)
// from after seq: chunk is called with each chunk in order, once each, and end with the
// final status, after which FollowOutput returns nil. A dropped connection is resumed after
// the last chunk received (Last-Event-ID); an error answer (404…) or ctx ending stops it.
func (c *Client) FollowOutput(ctx context.Context, id string, after int64, chunk func(httpapi.OutputChunk) error, end func(httpapi.OutputEnd) error) error {
	var failingSince time.Time
	backoff := 100 * time.Millisecond
	for {
		ended, err := c.followOutputOnce(ctx, id, &after, chunk, end)
		if ended || ctx.Err() != nil {
			if err == nil && ctx.Err() != nil && !ended {
				err = ctx.Err()
			}
			return err
		}
		var apiErr *APIError
		var cbErr *callbackError
		switch {
		case errors.As(err, &apiErr):
			return err
		case errors.As(err, &cbErr):
			return cbErr.err
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > outputReconnectFor {
			return fmt.Errorf("output stream: reconnecting failed for %s: %w", outputReconnectFor, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// followOutputOnce reads one connection; ended is true once the end event was handled.
func (c *Client) followOutputOnce(ctx context.Context, id string, after *int64, chunk func(httpapi.OutputChunk) error, end func(httpapi.OutputEnd) error) (ended bool, err error) {
	path := "/api/v1/executions/" + url.PathEscape(id) + "/output"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if *after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*after, 10))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actor != "" {
		req.Header.Set("X-Attune-Actor", c.actor)
	}
	// No client timeout: the stream lasts as long as the action.
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w (is `attune serve` running? set --url or ATTUNE_URL)", c.base+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, answerError(resp)
	}
	rd := bufio.NewReader(resp.Body)
	var event, data string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return false, fmt.Errorf("output stream of %s: %w", id, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				data += value
			}
			continue
		}
		switch event {
		case "output":
			var ch httpapi.OutputChunk
			if err := json.Unmarshal([]byte(data), &ch); err != nil {
				return false, &callbackError{fmt.Errorf("decode output chunk: %w", err)}
			}
			if ch.Seq > *after { // never twice, whatever the server sends
				if err := chunk(ch); err != nil {
					return false, &callbackError{err}
				}
				*after = ch.Seq
			}
		case "end":
			var e httpapi.OutputEnd
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return false, &callbackError{fmt.Errorf("decode end of output: %w", err)}
			}
			return true, end(e)
		}
		event, data = "", ""
	}
}

// Output reads one page of an execution's live output after seq (the JSON form of
// GET /api/v1/executions/{id}/output).
func (c *Client) Output(ctx context.Context, id string, after int64) (httpapi.OutputPage, error) {
	var page httpapi.OutputPage
	err := c.Do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(id)+"/output?after="+strconv.FormatInt(after, 10), nil, &page)
	return page, err
}
