package process

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/attune-go/attune/adapters/runtime"
)

// Script runs an action's entry point with an interpreter: `bash ENTRY`, `python3 ENTRY`,
// `node ENTRY`, in the entry point's directory, with the parameters as JSON on stdin.
type Script struct {
	exec        *Executor
	interpreter string
	args        []string
}

var _ runtime.Runner = (*Script)(nil)

// Script returns a runner that runs entry points with interpreter (an absolute path) and args
// before the entry point.
func (e *Executor) Script(interpreter string, args ...string) *Script {
	return &Script{exec: e, interpreter: interpreter, args: args}
}

// Interpreter is the program the runner runs scripts with.
func (s *Script) Interpreter() string { return s.interpreter }

// Run runs req.EntryPoint. Its stdout becomes the result as Result describes.
func (s *Script) Run(ctx context.Context, req runtime.Request) runtime.Outcome {
	if err := checkEntryPoint(req.EntryPoint); err != nil {
		return runtime.Failed("%s: %v", req.Action, err)
	}
	ctx, cancel := runtime.WithTimeout(ctx, req.Timeout)
	defer cancel()
	params := req.Parameters
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("{}")
	}
	o := s.exec.Exec(ctx, Command{
		ExecutionID: req.ExecutionID,
		Action:      req.Action,
		Path:        cmp.Or(req.Interpreter, s.interpreter),
		Env:         req.Env,
		Args:        append(append([]string(nil), s.args...), req.EntryPoint),
		Dir:         filepath.Dir(req.EntryPoint),
		Stdin:       params,
		Output:      req.Output,
	})
	o.Result = Result(o.Stdout)
	return o
}

// checkEntryPoint fails early, with a reason a pack author understands, where the interpreter
// would fail with its own words or, worse, read a script from stdin.
func checkEntryPoint(path string) error {
	if path == "" {
		return fmt.Errorf("no entry point")
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("entry point %q is not an absolute path", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open entry point: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat entry point: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("entry point %s is not a regular file", path)
	}
	return nil
}

// Result reads a script's stdout as its result: the JSON value itself when stdout is exactly
// one JSON value (surrounding blank space allowed), otherwise the text, without its trailing
// newlines, as a JSON string. Nothing printed is no result (nil). Truncated output is never
// valid JSON and so is kept as text.
func Result(stdout string) json.RawMessage {
	trimmed := strings.TrimSpace(stdout)
	if trimmed == "" {
		return nil
	}
	if json.Valid([]byte(trimmed)) {
		return json.RawMessage(trimmed)
	}
	return jsonString(strings.TrimRight(stdout, "\r\n"))
}

// jsonString encodes s as a JSON string, leaving <, > and & as they are for whoever reads
// the result.
func jsonString(s string) json.RawMessage {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
