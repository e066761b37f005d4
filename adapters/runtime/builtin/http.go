package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

// httpResult is core.http's result.
type httpResult struct {
	StatusCode int               `json:"status_code"`
	Headers    map[string]string `json:"headers"`
	// Body is the response body: decoded when the response says it is JSON, text otherwise.
	Body any `json:"body"`
}

// http sends one request. A 2xx response completes; any other fails (as StackStorm's http
// runner does) with the response still the result; a request that gets no response fails.
func (r *Runner) http(ctx context.Context, req runtime.Request) runtime.Outcome {
	var p struct {
		URL     string                     `json:"url"`
		Method  string                     `json:"method"`
		Headers map[string]json.RawMessage `json:"headers"`
		Body    json.RawMessage            `json:"body"`
	}
	if err := decode(req, &p); err != nil {
		return runtime.Failed("%v", err)
	}
	hr, err := newHTTPRequest(ctx, p.Method, p.URL, p.Headers, p.Body)
	if err != nil {
		return runtime.Failed("core.http: %v", err)
	}
	resp, err := r.cfg.HTTPClient.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			status, reason := runtime.Interrupted(ctx)
			return runtime.Outcome{Status: status, Reason: reason}
		}
		// The URL is left out of the reason: its query may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return runtime.Failed("core.http: %s request failed: %v", hr.Method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.cfg.MaxBodyBytes)+1))
	if err != nil {
		if ctx.Err() != nil {
			status, reason := runtime.Interrupted(ctx)
			return runtime.Outcome{Status: status, Reason: reason}
		}
		return runtime.Failed("core.http: read the response body: %v", err)
	}
	truncated := len(body) > r.cfg.MaxBodyBytes
	if truncated {
		body = body[:r.cfg.MaxBodyBytes]
	}
	res, err := result(httpResult{
		StatusCode: resp.StatusCode,
		Headers:    flatten(resp.Header),
		Body:       readBody(resp.Header.Get("Content-Type"), body, truncated),
	})
	if err != nil {
		return runtime.Failed("core.http: %v", err)
	}
	o := runtime.Outcome{Status: execution.Completed, Result: res, Truncated: truncated}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		o.Status, o.Reason = execution.Failed, fmt.Sprintf("core.http: %s returned HTTP %s", hr.Method, resp.Status)
	}
	return o
}

func newHTTPRequest(ctx context.Context, method, target string, headers map[string]json.RawMessage, body json.RawMessage) (*http.Request, error) {
	if target == "" {
		return nil, errors.New("parameter url is required")
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("parameter url must be an absolute http(s) URL")
	}
	method = strings.ToUpper(method)
	if method == "" {
		method = http.MethodGet
	}
	var (
		reader      io.Reader
		contentType string
	)
	switch b := bytes.TrimSpace(body); {
	case len(b) == 0 || string(b) == "null":
	case b[0] == '"':
		reader = strings.NewReader(text(b))
	default:
		reader, contentType = bytes.NewReader(b), "application/json"
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, fmt.Errorf("build the %s request: %w", method, err)
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	for name, v := range headers {
		hr.Header.Set(name, text(v))
	}
	return hr, nil
}

// flatten joins repeated headers with ", " (RFC 9110 §5.3).
func flatten(h http.Header) map[string]string {
	m := make(map[string]string, len(h))
	for name, values := range h {
		m[name] = strings.Join(values, ", ")
	}
	return m
}

// readBody decodes a complete JSON body and keeps anything else as text.
func readBody(contentType string, body []byte, truncated bool) any {
	mt, _, _ := mime.ParseMediaType(contentType)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if isJSON && !truncated && json.Valid(body) {
		return json.RawMessage(body)
	}
	return string(body)
}
