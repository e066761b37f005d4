package st2_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/adapters/runtime/st2"
	"github.com/attune-go/attune/adapters/runtime/st2py"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
)

// fixtures is the StackStorm pack the end-to-end test runs too.
const fixtures = "../../../cmd/attune/testdata/stackstorm/st2_actions"

// memKV is a key-value store in memory.
type memKV struct {
	mu      sync.Mutex
	keys    map[kv.Ref]json.RawMessage
	secrets map[kv.Ref]bool
}

func (m *memKV) Get(_ context.Context, ref kv.Ref) (json.RawMessage, bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.keys[ref]
	return v, ok, m.secrets[ref], nil
}

func (m *memKV) Set(_ context.Context, ref kv.Ref, value json.RawMessage, _ bool, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[ref] = value
	return nil
}

func (m *memKV) Delete(_ context.Context, ref kv.Ref) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.keys[ref]
	delete(m.keys, ref)
	return ok, nil
}

type harness struct {
	t       *testing.T
	pack    pack.PackRegistered
	runners map[string]runtime.Runner
	kv      *memKV
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p, err := packloader.LoadDir(fixtures, nil)
	if err != nil {
		t.Fatalf("load the fixture pack: %v", err)
	}
	exe, err := process.New(process.Config{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed: %v", err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed: %v", err)
	}
	standIn, err := st2py.Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &memKV{keys: map[kv.Ref]json.RawMessage{}, secrets: map[kv.Ref]bool{}}
	return &harness{t: t, pack: p, kv: store, runners: st2.Runners(st2.Config{
		Executor: exe, Shell: bash, Python: python, StandIn: standIn, KV: store, TempDir: t.TempDir(),
	})}
}

// run runs action (its name in the fixture pack) with params through the registry, as a
// worker does.
func (h *harness) run(name string, params map[string]any) runtime.Outcome {
	h.t.Helper()
	return h.runCtx(context.Background(), name, params)
}

// runCtx is run under ctx.
func (h *harness) runCtx(ctx context.Context, name string, params map[string]any) runtime.Outcome {
	h.t.Helper()
	var act pack.Action
	for _, a := range h.pack.Actions {
		if a.Name == name {
			act = a
		}
	}
	if act.Ref == "" {
		h.t.Fatalf("no action %s in the fixture pack", name)
	}
	raw, _ := json.Marshal(params)
	resolved, err := act.Parameters.Resolve(raw)
	if err != nil {
		h.t.Fatalf("%s: parameters %s: %v", name, raw, err)
	}
	req := runtime.Request{
		ExecutionID: "01TEST" + strings.ToUpper(name), Action: act.Ref, RunnerType: act.RunnerType,
		Parameters: resolved, Params: act.Parameters, PackDir: h.pack.Path, PackConfig: json.RawMessage(`{"region":"eu"}`),
		Timeout: time.Minute,
	}
	if act.EntryPoint != "" {
		req.EntryPoint = filepath.Join(h.pack.Path, "actions", act.EntryPoint)
	}
	for n, p := range act.Parameters {
		if p.Secret {
			req.Secrets = append(req.Secrets, n)
		}
	}
	return runtime.NewRegistry(h.runners).Run(ctx, req)
}

func result(t *testing.T, o runtime.Outcome) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(o.Result, &m); err != nil {
		t.Fatalf("result %s: %v", o.Result, err)
	}
	return m
}

func TestLocalShellCmdRendersItsCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.run("greet_cmd", map[string]any{"name": "Ada"})
	if o.Status != execution.Completed {
		t.Fatalf("status %s: %s", o.Status, o.Reason)
	}
	want := map[string]any{"stdout": "Hello, Ada!", "stderr": "", "return_code": 0.0, "succeeded": true, "failed": false}
	if got := result(t, o); !equalJSON(got, want) {
		t.Fatalf("result %v, want %v", got, want)
	}
}

func TestLocalShellCmdReadsTheKeyValueStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if got := result(t, h.run("kv_cmd", nil))["stdout"]; got != "no motd" {
		t.Fatalf("without the key: stdout %q, want the template's default", got)
	}
	h.kv.keys[kv.SystemKey("motd")] = json.RawMessage(`"maintenance tonight"`)
	if got := result(t, h.run("kv_cmd", nil))["stdout"]; got != "maintenance tonight" {
		t.Fatalf("with the key: stdout %q", got)
	}
}

func TestLocalShellCmdResultAsStackStormShapesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.run("json_cmd", map[string]any{"code": 3})
	r := result(t, o)
	if o.Status != execution.Failed || r["return_code"] != 3.0 || r["failed"] != true || r["stderr"] != "oops" {
		t.Fatalf("status %s result %v", o.Status, r)
	}
	if out, ok := r["stdout"].(map[string]any); !ok || out["count"] != 3.0 {
		t.Fatalf("stdout %v: want the JSON it printed, parsed", r["stdout"])
	}
}

func TestLocalShellScriptArgumentsAsStackStormPassesThem(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.run("args", map[string]any{"target": "db1", "hosts": []string{"a", "b"}, "note": "two words"})
	if o.Status != execution.Completed {
		t.Fatalf("status %s: %s", o.Status, o.Reason)
	}
	// Named (sorted), a true boolean bare, false and unset left out; then positional.
	want := "--count=2\n--note=two words\n--verbose\ndb1\na,b"
	if got := result(t, o)["stdout"]; got != want {
		t.Fatalf("argv\n%v\nwant\n%s", got, want)
	}
	if got := result(t, h.run("dash_args", nil))["stdout"]; got != "-name=x" {
		t.Fatalf("kwarg_op -: %v", got)
	}
}

func TestPythonScriptAction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.run("remember", map[string]any{"word": "tea"})
	if o.Status != execution.Completed {
		t.Fatalf("status %s: %s\n%s", o.Status, o.Reason, o.Stderr)
	}
	r := result(t, o)
	inner, _ := r["result"].(map[string]any)
	if inner["shout"] != "TEA!" || inner["previous"] != nil || inner["unset_is_none"] != true ||
		!equalJSON(inner["config"], map[string]any{"region": "eu"}) {
		t.Fatalf("result %v", r)
	}
	if r["stdout"] != "stored tea\n" || r["exit_code"] != 0.0 || !strings.Contains(r["stderr"].(string), "remembering tea") {
		t.Fatalf("stdout %q exit %v stderr %q", r["stdout"], r["exit_code"], r["stderr"])
	}
	if got := string(h.kv.keys[kv.PackKey("st2_actions", "Remember.last_word")]); got != `"tea"` {
		t.Fatalf("action_service.set_value stored %s", got)
	}
	o = h.run("remember", map[string]any{"word": "coffee", "fail": true})
	if inner, _ := result(t, o)["result"].(map[string]any); o.Status != execution.Failed || inner["error"] != "asked to fail" {
		t.Fatalf("(False, …): status %s result %s", o.Status, o.Result)
	}
	o = h.run("crash", nil)
	if r := result(t, o); o.Status != execution.Failed || r["exit_code"] != 1.0 || !strings.Contains(r["stderr"].(string), "ValueError: the disk is on fire") {
		t.Fatalf("a raising action: status %s result %s", o.Status, o.Result)
	}
}

func TestHTTPRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusTeapot)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "q": r.URL.Query().Get("q")})
	}))
	t.Cleanup(srv.Close)
	o := h.run("fetch", map[string]any{"url": srv.URL, "method": "POST", "params": map[string]any{"q": "x"}})
	r := result(t, o)
	if o.Status != execution.Completed || r["status_code"] != 200.0 || r["parsed"] != true ||
		!equalJSON(r["body"], map[string]any{"method": "POST", "q": "x"}) {
		t.Fatalf("status %s result %v", o.Status, r)
	}
	if o := h.run("fetch", map[string]any{"url": srv.URL + "?fail=1"}); o.Status != execution.Failed || result(t, o)["status_code"] != 418.0 {
		t.Fatalf("a 418: status %s result %s", o.Status, o.Result)
	}
}

func TestNoop(t *testing.T) {
	t.Parallel()
	if o := newHarness(t).run("nothing", nil); o.Status != execution.Completed || result(t, o)["succeeded"] != true {
		t.Fatalf("noop: %s %s", o.Status, o.Result)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestJSONSchemaBeyondTheBasicKeywords(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if o := h.run("connect", map[string]any{"target": map[string]any{"host": "db1", "port": 5432}, "label": nil}); o.Status != execution.Completed || result(t, o)["stdout"] != "db1:5432" {
		t.Fatalf("a valid object: %s %s (%s)", o.Status, o.Result, o.Reason)
	}
	for _, bad := range []map[string]any{
		{"target": map[string]any{"port": 1}},                  // host is required (StackStorm's required: true)
		{"target": map[string]any{"host": "x", "extra": true}}, // additionalProperties: false
		{"target": map[string]any{"host": "x"}, "label": 3},    // neither string nor null
	} {
		o := h.run("connect", bad)
		if o.Status != execution.Failed || !strings.Contains(o.Reason, "parameter \"target\"") && !strings.Contains(o.Reason, "parameter \"label\"") {
			t.Errorf("%v: %s (%s), want refused by the schema", bad, o.Status, o.Reason)
		}
	}
}

func TestSecretsRenderedFromTheKeyValueStoreAreMasked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ref := kv.SystemKey("api_token")
	h.kv.keys[ref], h.kv.secrets[ref] = json.RawMessage(`"tok-8f2a77"`), true
	o := h.run("token_cmd", nil)
	if o.Status != execution.Completed {
		t.Fatalf("status %s: %s", o.Status, o.Reason)
	}
	for _, text := range []string{string(o.Result), o.Stdout, o.Stderr} {
		if strings.Contains(text, "tok-8f2a77") {
			t.Fatalf("the secret shows in %q", text)
		}
	}
	if r := result(t, o); r["stdout"] != "token="+runtime.Mask || r["stderr"] != "header="+runtime.Mask {
		t.Fatalf("result %v", r)
	}
}

func TestAnUnsetParameterRendersAsNone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if got := result(t, h.run("opt_cmd", nil))["stdout"]; got != "hi" {
		t.Errorf("unset: stdout %v, want hi", got)
	}
	if got := result(t, h.run("opt_cmd", map[string]any{"suffix": "there"}))["stdout"]; got != "hi there" {
		t.Errorf("set: stdout %v, want hi there", got)
	}
}

func TestSecretsReadThroughActionServiceAreMasked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ref := kv.SystemKey("api_token")
	h.kv.keys[ref], h.kv.secrets[ref] = json.RawMessage(`"tok-31c0de"`), true
	o := h.run("reveal", nil)
	if o.Status != execution.Completed || strings.Contains(string(o.Result)+o.Stdout+o.Stderr, "tok-31c0de") {
		t.Fatalf("status %s (%s): result %s stdout %q", o.Status, o.Reason, o.Result, o.Stdout)
	}
	if inner, _ := result(t, o)["result"].(map[string]any); inner["token"] != runtime.Mask {
		t.Fatalf("result %s", o.Result)
	}
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	if got := result(t, newHarness(t).run("env_cmd", nil))["stdout"]; got != "blue st2_actions has-id" {
		t.Fatalf("stdout %v", got)
	}
}
