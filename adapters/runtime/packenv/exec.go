package packenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runner runs the steps of one build, each logged with its command line.
type runner struct {
	path string
	home string
	log  io.Writer
}

// env is a build's whole environment: nothing of the worker's own (which may hold its
// database URL or keys) reaches pip, npm or the install scripts of the packages they fetch.
func (r runner) env() []string {
	env := []string{
		"PATH=" + r.path,
		"HOME=" + r.home,
		"LANG=C.UTF-8",
		"PIP_NO_INPUT=1",
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PYTHONNOUSERSITE=1",
		"npm_config_update_notifier=false",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}

func (r runner) run(ctx context.Context, dir, name string, args ...string) error {
	bin, err := lookPath(name, r.path)
	if err != nil {
		fmt.Fprintf(r.log, "$ %s: %v\n", name, err)
		return err
	}
	fmt.Fprintf(r.log, "$ (cd %s && %s %s)\n", dir, bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = r.env()
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = groupAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	// A child that keeps the log pipe open must not hold the build past its timeout.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(r.log, "failed: %v\n", err)
		return describeExit(ctx, filepath.Base(bin)+" "+firstArgs(args), err)
	}
	return nil
}

// firstArgs names a step in a reason: "-m pip install", "install".
func firstArgs(args []string) string {
	n := min(len(args), 3)
	return strings.Join(args[:n], " ")
}

// lookPath finds name on the build's PATH, not the worker's.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH %s", name, path)
}

// absoluteFileDeps rewrites the relative file: specs of package.json's dependencies to
// absolute paths under packDir, since the manifest is installed from another directory.
func absoluteFileDeps(manifest []byte, packDir string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(manifest, &doc); err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	changed := false
	for _, field := range []string{"dependencies", "optionalDependencies"} {
		raw, ok := doc[field]
		if !ok {
			continue
		}
		var deps map[string]string
		if err := json.Unmarshal(raw, &deps); err != nil {
			return nil, fmt.Errorf("package.json: %s: %w", field, err)
		}
		for name, spec := range deps {
			if p, ok := strings.CutPrefix(spec, "file:"); ok && !filepath.IsAbs(p) {
				deps[name] = "file:" + filepath.Join(packDir, p)
				changed = true
			}
		}
		if doc[field], ok = mustJSON(deps); !ok {
			return nil, fmt.Errorf("package.json: re-encode %s", field)
		}
	}
	if !changed {
		return manifest, nil
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	return out, nil
}

func mustJSON(v any) (json.RawMessage, bool) {
	b, err := json.Marshal(v)
	return b, err == nil
}
