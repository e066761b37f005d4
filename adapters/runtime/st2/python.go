package st2

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/adapters/runtime/st2py"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/domain/pack"
)

// pythonResult is the result of StackStorm's python runner.
type pythonResult struct {
	Result   any    `json:"result"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode *int   `json:"exit_code"`
}

// pythonHeader is what the wrapper reads on stdin.
type pythonHeader struct {
	EntryPoint string         `json:"entry_point"`
	Parameters map[string]any `json:"parameters"`
	Config     any            `json:"config"`
	LogLevel   string         `json:"log_level"`
}

// channelMessage is one line the wrapper writes on fd 3.
type channelMessage struct {
	Op     string          `json:"op"`
	Name   string          `json:"name"`
	Local  bool            `json:"local"`
	Class  string          `json:"class"`
	Value  json.RawMessage `json:"value"`
	TTL    *float64        `json:"ttl"`
	Secret bool            `json:"secret"`
	Status *bool           `json:"status"`
	Result json.RawMessage `json:"result"`
}

// python is StackStorm's python-script runner: the entry point's Action subclass run by the
// wrapper of adapters/runtime/st2py, with every declared parameter (None when unset), the
// pack's config as self.config and self.action_service served from the key-value store over a
// pipe. Its result is {result, stdout, stderr, exit_code}; (False, x) from run() fails it.
func (r *runners) python(ctx context.Context, req runtime.Request) runtime.Outcome {
	c, failed := r.prepare(ctx, req)
	if failed != nil {
		return *failed
	}
	if req.EntryPoint == "" {
		return runtime.Failed("%s: no entry point", req.Action)
	}
	runnerParams := pack.StackStormRunnerParams(pack.RunnerPythonScript)
	params := map[string]any{}
	for name := range req.Params {
		if _, isRunner := runnerParams[name]; !isRunner {
			params[name] = c.action[name] // nil (None) when unset
		}
	}
	header := pythonHeader{EntryPoint: req.EntryPoint, Parameters: params, Config: map[string]any{}, LogLevel: cmp.Or(c.str("log_level"), "DEBUG")}
	if len(req.PackConfig) > 0 {
		header.Config = json.RawMessage(req.PackConfig)
	}
	stdin, err := json.Marshal(header)
	if err != nil {
		return runtime.Failed("%s: encode the parameters: %v", req.Action, err)
	}
	env, err := c.env(req)
	if err != nil {
		return runtime.Failed("%s: %v", req.Action, err)
	}
	// No byte-code next to the pack's files: the pack directory is the registered content
	// (its digest covers it), and the action's user may not write there anyway.
	env = append(env, "PYTHONPATH="+strings.Join(r.pythonPath(req), ":"), "PYTHONIOENCODING=utf-8", "PYTHONDONTWRITEBYTECODE=1")
	env = append(env, req.Env...)
	fromChild, toWorker, err := os.Pipe()
	if err != nil {
		return runtime.Failed("%s: make the key-value pipe: %v", req.Action, err)
	}
	fromWorker, toChild, err := os.Pipe()
	if err != nil {
		closeFiles(fromChild, toWorker)
		return runtime.Failed("%s: make the key-value pipe: %v", req.Action, err)
	}
	served := make(chan *channelMessage, 1)
	packRef, _, _ := strings.Cut(req.Action, ".")
	seen := &secretsSeen{}
	go func() {
		defer closeFiles(fromChild, toChild)
		served <- r.serve(ctx, packRef, seen, fromChild, toChild)
	}()
	ctx, cancel := runtime.WithTimeout(ctx, c.timeout(req))
	defer cancel()
	return c.masked(req, func(req runtime.Request) runtime.Outcome {
		o := r.cfg.Executor.Exec(ctx, process.Command{
			ExecutionID: req.ExecutionID,
			Action:      req.Action,
			Path:        cmp.Or(req.Interpreter, r.cfg.Python), // the pack's virtualenv, if it has one
			Args:        []string{filepath.Join(r.cfg.StandIn, st2py.ActionWrapper)},
			Dir:         filepath.Dir(req.EntryPoint),
			Env:         env,
			Stdin:       stdin,
			Output:      req.Output,
			Files:       []*os.File{toWorker, fromWorker}, // fd 3, fd 4
		})
		closeFiles(toWorker, fromWorker) // when Exec returned before it started the child
		var final *channelMessage
		select {
		case final = <-served:
		case <-time.After(5 * time.Second):
			// Only a process that left the group can hold the pipe this long; its answer is
			// given up, as the executor gives up its output.
		}
		res := pythonResult{Stdout: o.Stdout, Stderr: o.Stderr, ExitCode: o.ExitCode}
		if final != nil && len(final.Result) > 0 {
			var v any
			dec := json.NewDecoder(strings.NewReader(string(final.Result)))
			dec.UseNumber()
			if dec.Decode(&v) == nil {
				res.Result = v
			}
		}
		o.Result = resultOf(res)
		if o.Status == execution.Completed && final != nil && final.Status != nil && !*final.Status {
			o.Status, o.Reason = execution.Failed, "the action's run() returned False"
		}
		// An action that exits 0 before returning (sys.exit(0)) succeeds with no result, as
		// in StackStorm, whose runner then finds no result in its output.
		return seen.redact(o)
	})
}

// pythonPath is the stand-in package, then what StackStorm puts on a python action's path:
// the pack's actions/lib and lib directories.
func (r *runners) pythonPath(req runtime.Request) []string {
	path := []string{r.cfg.StandIn}
	if req.PackDir != "" {
		path = append(path, filepath.Join(req.PackDir, "actions", "lib"), filepath.Join(req.PackDir, "lib"))
	}
	return path
}

// serve answers the wrapper's key-value calls until it sends its result or goes away, and
// returns the result (nil when none came).
func (r *runners) serve(ctx context.Context, packRef string, seen *secretsSeen, in *os.File, out *os.File) *channelMessage {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var m channelMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			_ = enc.Encode(map[string]any{"ok": false, "error": "not a request: " + err.Error()})
			continue
		}
		if m.Op == "result" {
			return &m
		}
		value, err := r.kvCall(ctx, packRef, seen, m)
		if err != nil {
			_ = enc.Encode(map[string]any{"ok": false, "error": err.Error()})
			continue
		}
		_ = enc.Encode(map[string]any{"ok": true, "value": value})
	}
	return nil
}

// kvCall runs one action_service call. A local key is the pack's key <Class>.<name>, as
// StackStorm's local keys are prefixed by pack and class; values come back as StackStorm
// returns them, strings.
func (r *runners) kvCall(ctx context.Context, packRef string, seen *secretsSeen, m channelMessage) (any, error) {
	if r.cfg.KV == nil {
		return nil, errNoKV
	}
	ref := kv.SystemKey(m.Name)
	if m.Local {
		ref = kv.PackKey(packRef, m.Class+"."+m.Name)
	}
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	switch m.Op {
	case "get":
		raw, found, isSecret, err := r.cfg.KV.Get(ctx, ref)
		if err != nil || !found {
			return nil, err
		}
		value := string(raw)
		var str string
		if json.Unmarshal(raw, &str) == nil {
			value = str
		}
		if isSecret {
			seen.add(value)
		}
		return value, nil
	case "set":
		var ttl time.Duration
		if m.TTL != nil {
			ttl = time.Duration(*m.TTL * float64(time.Second))
		}
		value := m.Value
		if len(value) == 0 {
			value = json.RawMessage("null")
		}
		if m.Secret {
			seen.add(string(value))
			var str string
			if json.Unmarshal(value, &str) == nil {
				seen.add(str)
			}
		}
		return true, r.cfg.KV.Set(ctx, ref, value, m.Secret, ttl)
	case "delete":
		return r.cfg.KV.Delete(ctx, ref)
	}
	return nil, fmt.Errorf("unknown call %q", m.Op)
}

func closeFiles(files ...*os.File) {
	for _, f := range files {
		_ = f.Close() // closing twice returns os.ErrClosed, harmlessly
	}
}

// secretsSeen are the secret values an action read or wrote through action_service: masked in
// its outcome as its secret parameters are, since the outcome is written into the log. (Its
// live output was wrapped before they were known: they are not masked there.)
type secretsSeen struct {
	mu     sync.Mutex
	values []string
}

func (s *secretsSeen) add(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
}

func (s *secretsSeen) redact(o runtime.Outcome) runtime.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.values) == 0 {
		return o
	}
	fields := map[string]string{}
	names := make([]string, len(s.values))
	for i, v := range s.values {
		names[i] = "kv" + strconv.Itoa(i)
		fields[names[i]] = v
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return o
	}
	return runtime.Redact(o, raw, names)
}
