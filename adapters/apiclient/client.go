// Package apiclient is the Go client of Attune's HTTP API, used by the CLI and end-to-end
// tests. Errors the server answers come back as *APIError with their stable code.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/idempotency"
)

// DefaultURL is where `attune serve` listens by default.
const DefaultURL = "http://127.0.0.1:8080"

// Client talks to one Attune server.
type Client struct {
	base  string
	token string
	actor string
	http  *http.Client
}

// New returns a client for the server at base (e.g. http://127.0.0.1:8080).
func New(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host:port", base)
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// WithActor names the person or system on whose behalf requests are made (the audit trail).
func (c *Client) WithActor(actor string) *Client {
	cp := *c
	cp.actor = actor
	return &cp
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s, field %s)", e.Message, e.Code, e.Field)
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// Do sends a request with a JSON body (nil for none) and decodes a JSON answer into out (nil
// to discard it).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, method, path, "", body, out)
}

// retryDelays are the pauses before each retry of a request that carries an idempotency key
// and lost its connection: the server may have restarted, and the key makes the retry safe.
var retryDelays = []time.Duration{250 * time.Millisecond, time.Second, 3 * time.Second}

// doIdempotent sends a request with an Idempotency-Key and retries it with the same key when
// the connection fails before an answer (a reset, a refused connection, a cut-off answer):
// the server answers a retry with what the first attempt created, so nothing is created twice.
// Requests without a key are never retried: they could create twice.
func (c *Client) doIdempotent(ctx context.Context, method, path, key string, body, out any) error {
	err := c.do(ctx, method, path, key, body, out)
	for _, d := range retryDelays {
		if !connectionLost(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		err = c.do(ctx, method, path, key, body, out)
	}
	return err
}

// connectionLost reports a transport failure that a retry may cure; an answer of the server
// (an *APIError) is never one.
func connectionLost(err error) bool {
	var apiErr *APIError
	if err == nil || errors.As(err, &apiErr) {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (c *Client) do(ctx context.Context, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json") // routes that also stream answer JSON
	if key != "" {
		req.Header.Set(idempotency.Header, key)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actor != "" {
		req.Header.Set("X-Attune-Actor", c.actor)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is `attune serve` running? set --url or ATTUNE_URL)", method, c.base+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		apiErr := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(raw, apiErr) != nil || apiErr.Code == "" {
			apiErr.Code = "http_" + fmt.Sprint(resp.StatusCode)
			apiErr.Message = strings.TrimSpace(string(raw))
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// IsCode reports whether err is an API error with that code.
func IsCode(err error, code string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// Run requests an execution under a fresh Idempotency-Key, retrying with that key when the
// connection is lost before the answer: one call requests one execution at most.
func (c *Client) Run(ctx context.Context, action string, params map[string]json.RawMessage) (httpapi.Execution, error) {
	return c.RunWithKey(ctx, ulid.Make().String(), action, params)
}

// RunWithKey is Run with the caller's Idempotency-Key, for a caller that retries on its own
// (across restarts of its own process, say): the same key within 24 h answers the same
// execution.
func (c *Client) RunWithKey(ctx context.Context, key, action string, params map[string]json.RawMessage) (httpapi.Execution, error) {
	var x httpapi.Execution
	err := c.doIdempotent(ctx, http.MethodPost, "/api/v1/executions", key, map[string]any{"action": action, "parameters": params}, &x)
	return x, err
}

// Execution returns one execution.
func (c *Client) Execution(ctx context.Context, id string) (httpapi.Execution, error) {
	var x httpapi.Execution
	err := c.Do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(id), nil, &x)
	return x, err
}

// ExecutionPage is one page of executions.
type ExecutionPage struct {
	Items      []httpapi.Execution `json:"items"`
	NextCursor *string             `json:"next_cursor"`
}

// Executions lists executions; query holds the filters (status, action, rule, limit, cursor …).
func (c *Client) Executions(ctx context.Context, query url.Values) (ExecutionPage, error) {
	var p ExecutionPage
	path := "/api/v1/executions"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &p)
	return p, err
}

// History returns an execution's events in order.
func (c *Client) History(ctx context.Context, id string) ([]httpapi.Envelope, error) {
	var out struct {
		Items []httpapi.Envelope `json:"items"`
	}
	err := c.Do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(id)+"/history", nil, &out)
	return out.Items, err
}

// Cancel asks an execution to stop.
func (c *Client) Cancel(ctx context.Context, id string) (httpapi.Execution, error) {
	var x httpapi.Execution
	err := c.Do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/cancel", nil, &x)
	return x, err
}

// Rerun requests a new execution with the parameters of an earlier one; req (optional)
// lays parameters over them, or re-runs a workflow from a task.
func (c *Client) Rerun(ctx context.Context, id string, req *httpapi.RerunRequest) (httpapi.Execution, error) {
	var x httpapi.Execution
	var body any
	if req != nil {
		body = req
	}
	err := c.Do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/rerun", body, &x)
	return x, err
}

// Pause pauses a workflow execution.
func (c *Client) Pause(ctx context.Context, id string) (httpapi.Execution, error) {
	var x httpapi.Execution
	err := c.Do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/pause", nil, &x)
	return x, err
}

// Resume resumes a paused workflow execution.
func (c *Client) Resume(ctx context.Context, id string) (httpapi.Execution, error) {
	var x httpapi.Execution
	err := c.Do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/resume", nil, &x)
	return x, err
}

// Wait polls an execution until it is terminal, calling onChange for every status it sees.
func (c *Client) Wait(ctx context.Context, id string, onChange func(httpapi.Execution)) (httpapi.Execution, error) {
	var last string
	delay := 50 * time.Millisecond
	for {
		x, err := c.Execution(ctx, id)
		switch {
		case IsCode(err, httpapi.CodeNotFound):
			// The read model has not caught up with the request yet.
		case err != nil:
			return x, err
		default:
			if string(x.Status) != last {
				last = string(x.Status)
				if onChange != nil {
					onChange(x)
				}
			}
			if x.Status.Terminal() {
				return x, nil
			}
		}
		select {
		case <-ctx.Done():
			return x, fmt.Errorf("wait for execution %s: %w", id, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

// LoadPack registers the pack in a directory on the server's host.
func (c *Client) LoadPack(ctx context.Context, path string) (map[string]any, error) {
	var out map[string]any
	err := c.Do(ctx, http.MethodPost, "/api/v1/packs", map[string]string{"path": path}, &out)
	return out, err
}

// DeletePack retires a pack and all its components.
func (c *Client) DeletePack(ctx context.Context, ref string) (map[string]any, error) {
	var out map[string]any
	err := c.Do(ctx, http.MethodDelete, "/api/v1/packs/"+url.PathEscape(ref), nil, &out)
	return out, err
}

// SetRuleEnabled enables or disables a rule.
func (c *Client) SetRuleEnabled(ctx context.Context, ref string, enabled bool) error {
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	return c.Do(ctx, http.MethodPost, "/api/v1/rules/"+url.PathEscape(ref)+"/"+verb, nil, nil)
}

// TestRule evaluates a rule against an event without firing anything.
func (c *Client) TestRule(ctx context.Context, ref string, event json.RawMessage) (map[string]any, error) {
	var out map[string]any
	err := c.Do(ctx, http.MethodPost, "/api/v1/rules/"+url.PathEscape(ref)+"/test", event, &out)
	return out, err
}
