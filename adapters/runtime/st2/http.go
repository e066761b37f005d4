package st2

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

// httpResult is the result of StackStorm's http-request runner.
type httpResult struct {
	StatusCode int               `json:"status_code"`
	Body       any               `json:"body"`
	Parsed     bool              `json:"parsed"`
	Headers    map[string]string `json:"headers"`
}

// jsonTypes are the content types whose body StackStorm parses as JSON.
var jsonTypes = []string{"application/json", "application/x-javascript", "text/javascript", "application/x-json"}

// http is StackStorm's http-request runner: the runner parameters url, headers, cookies,
// username/password, allow_redirects, verify_ssl_cert, http(s)_proxy, and the action
// parameters it reads when the action declares them (method, body, params, timeout, as
// core.http does). A 2xx response completes; any other fails with the response as the result.
func (r *runners) http(ctx context.Context, req runtime.Request) runtime.Outcome {
	c, failed := r.prepare(ctx, req)
	if failed != nil {
		return *failed
	}
	fail := func(format string, args ...any) runtime.Outcome {
		return runtime.Failed("%s: "+format, append([]any{req.Action}, args...)...)
	}
	for _, name := range []string{"file_path", "file_name", "file_content", "file_content_type", "auth"} {
		if v, ok := c.action[name]; ok && v != nil && v != "" {
			return fail("parameter %s is not supported: attune's http-request sends url, method, headers, cookies, params, body and basic authentication (username, password); it uploads no files", name)
		}
	}
	hr, err := r.httpRequest(ctx, c)
	if err != nil {
		return fail("%v", err)
	}
	client, err := r.httpClient(c)
	if err != nil {
		return fail("%v", err)
	}
	timeout := c.timeout(req)
	if n, ok := c.action["timeout"].(json.Number); ok {
		if f, err := n.Float64(); err == nil && f > 0 {
			timeout = time.Duration(f * float64(time.Second))
		}
	}
	ctx, cancel := runtime.WithTimeout(ctx, timeout)
	defer cancel()
	return c.masked(req, func(runtime.Request) runtime.Outcome { return r.send(ctx, req, client, hr) })
}

// send sends hr and shapes the response as StackStorm's http runner does.
func (r *runners) send(ctx context.Context, req runtime.Request, client *http.Client, hr *http.Request) runtime.Outcome {
	fail := func(format string, args ...any) runtime.Outcome {
		return runtime.Failed("%s: "+format, append([]any{req.Action}, args...)...)
	}
	resp, err := client.Do(hr.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			status, reason := runtime.Interrupted(ctx)
			return runtime.Outcome{Status: status, Reason: reason}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is left out: its query may hold a token
		}
		return fail("%s request failed: %v", hr.Method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.cfg.MaxBodyBytes)+1))
	if err != nil {
		return fail("read the response body: %v", err)
	}
	truncated := len(body) > r.cfg.MaxBodyBytes
	if truncated {
		body = body[:r.cfg.MaxBodyBytes]
	}
	res := httpResult{StatusCode: resp.StatusCode, Body: string(body), Headers: map[string]string{}}
	for name, values := range resp.Header {
		res.Headers[name] = strings.Join(values, ", ")
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !truncated && slices.Contains(jsonTypes, mt) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			res.Body, res.Parsed = v, true
		}
	}
	o := runtime.Outcome{Status: execution.Completed, Result: resultOf(res), Truncated: truncated}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		o.Status, o.Reason = execution.Failed, fmt.Sprintf("%s: %s returned HTTP %s", req.Action, hr.Method, resp.Status)
	}
	return o
}

func (r *runners) httpRequest(ctx context.Context, c *call) (*http.Request, error) {
	target := c.str("url")
	u, err := url.Parse(target)
	if target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("parameter url must be an absolute http(s) URL")
	}
	if params, ok := c.action["params"].(map[string]any); ok {
		q := u.Query()
		for k, v := range params {
			q.Set(k, pyStr(v))
		}
		u.RawQuery = q.Encode()
	}
	method := strings.ToUpper(pyStrOr(c.action["method"], http.MethodGet))
	headers := http.Header{}
	if h, ok := c.runner["headers"].(map[string]any); ok {
		for k, v := range h {
			headers.Set(k, pyStr(v))
		}
	}
	var body io.Reader
	switch b := c.action["body"].(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		body = bytes.NewReader(data)
		if headers.Get("Content-Type") == "" {
			headers.Set("Content-Type", "application/json")
		}
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build the %s request: %w", method, err)
	}
	hr.Header = headers
	if cookies, ok := c.runner["cookies"].(map[string]any); ok {
		for k, v := range cookies {
			hr.AddCookie(&http.Cookie{Name: k, Value: pyStr(v)})
		}
	}
	if user := c.str("username"); user != "" {
		hr.SetBasicAuth(user, c.str("password"))
	}
	return hr, nil
}

// httpClient is the configured client, or one of its own when the run asks for a proxy, no
// certificate check or redirects.
func (r *runners) httpClient(c *call) (*http.Client, error) {
	verify, _ := c.runner["verify_ssl_cert"].(bool)
	if _, set := c.runner["verify_ssl_cert"]; !set {
		verify = true
	}
	follow, _ := c.runner["allow_redirects"].(bool)
	httpProxy, httpsProxy := c.str("http_proxy"), c.str("https_proxy")
	client := *r.cfg.HTTPClient
	if !follow {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	if verify && httpProxy == "" && httpsProxy == "" {
		return &client, nil
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("no HTTP transport to configure")
	}
	t := base.Clone()
	if !verify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // verify_ssl_cert: false asks for it
	}
	if httpProxy != "" || httpsProxy != "" {
		proxies := map[string]string{"http": httpProxy, "https": httpsProxy}
		t.Proxy = func(req *http.Request) (*url.URL, error) {
			if p := proxies[req.URL.Scheme]; p != "" {
				return url.Parse(p)
			}
			return nil, nil
		}
	}
	client.Transport = t
	return &client, nil
}

func pyStrOr(v any, def string) string {
	if v == nil {
		return def
	}
	return pyStr(v)
}
