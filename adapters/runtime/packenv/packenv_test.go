package packenv_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime/packenv"
	"github.com/attune-go/attune/adapters/runtime/packenv/packenvtest"
)

// pythonPack writes a pack whose requirements.txt installs a wheel built here from source.
func pythonPack(t *testing.T, greeting string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deps_pack")
	src := filepath.Join(dir, "deps", "src", "greeting")
	write(t, filepath.Join(src, "__init__.py"), "def hello():\n    return "+greeting+"\n")
	if _, err := packenvtest.BuildWheel(src, filepath.Join(dir, "deps", "wheels"), "greeting", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "requirements.txt"), "--no-index\n--find-links ./deps/wheels\ngreeting==1.0.0\n")
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func manager(t *testing.T, dir string, cfg packenv.Config) *packenv.Manager {
	t.Helper()
	cfg.Dir = dir
	m, err := packenv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wait(t *testing.T, m *packenv.Manager, packDir string, k packenv.Kind) (packenv.Env, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, ok, err := m.Wait(ctx, "deps_pack", packDir, k)
	if !ok {
		t.Fatalf("the pack declares no %s environment", k)
	}
	return env, err
}

func TestVirtualenvIsBuiltFromRequirementsAndReused(t *testing.T) {
	packDir := pythonPack(t, `"hello from the venv"`)
	envDir := t.TempDir()
	env, err := wait(t, manager(t, envDir, packenv.Config{}), packDir, packenv.Python)
	if err != nil {
		t.Fatal(err)
	}
	if env.State != packenv.Ready || env.Reused {
		t.Fatalf("first build: %+v", env)
	}
	if want := filepath.Join(envDir, "venvs", "deps_pack-"+env.Hash); env.Dir != want {
		t.Errorf("dir %s, want %s", env.Dir, want)
	}
	out, err := exec.Command(env.Python(), "-c", "import greeting; print(greeting.hello())").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello from the venv" {
		t.Fatalf("import from the venv: %v: %s", err, out)
	}
	// The system interpreter does not see it: the venv is the pack's own.
	if out, err := exec.Command("python3", "-c", "import greeting").CombinedOutput(); err == nil {
		t.Fatalf("greeting importable outside the venv: %s", out)
	}
	if log, err := os.ReadFile(env.Log); err != nil || !strings.Contains(string(log), "Successfully installed greeting-1.0.0") {
		t.Fatalf("build log %s: %v: %s", env.Log, err, log)
	}

	// Another worker process on this host (a new manager) finds it built.
	again, err := wait(t, manager(t, envDir, packenv.Config{}), packDir, packenv.Python)
	if err != nil || !again.Reused || again.Dir != env.Dir {
		t.Fatalf("second worker: %+v, %v", again, err)
	}

	// A changed requirements.txt is another environment.
	write(t, filepath.Join(packDir, "requirements.txt"), "--no-index\n--find-links ./deps/wheels\ngreeting\n")
	changed, err := wait(t, manager(t, envDir, packenv.Config{}), packDir, packenv.Python)
	if err != nil || changed.Reused || changed.Hash == env.Hash {
		t.Fatalf("after a change: %+v, %v", changed, err)
	}
}

func TestConcurrentBuildsOfOneEnvironmentLeaveOneWorkingVenv(t *testing.T) {
	packDir := pythonPack(t, `"raced"`)
	envDir := t.TempDir()
	var wg sync.WaitGroup
	envs := make([]packenv.Env, 2)
	errs := make([]error, 2)
	for i := range envs {
		m := manager(t, envDir, packenv.Config{})
		wg.Go(func() { envs[i], errs[i] = wait(t, m, packDir, packenv.Python) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("builder %d: %v", i, err)
		}
	}
	if envs[0].Dir != envs[1].Dir {
		t.Fatalf("two directories: %s, %s", envs[0].Dir, envs[1].Dir)
	}
	out, err := exec.Command(envs[0].Python(), "-c", "import greeting; print(greeting.hello())").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "raced" {
		t.Fatalf("after the race: %v: %s", err, out)
	}
	left, _ := filepath.Glob(filepath.Join(envDir, "venvs", ".*build-*"))
	if len(left) != 0 {
		t.Fatalf("build directories left behind: %v", left)
	}
}

func TestFailedBuildNamesItsLogAndIsNotRetriedForTheSameFile(t *testing.T) {
	packDir := pythonPack(t, `"x"`)
	write(t, filepath.Join(packDir, "requirements.txt"), "--no-index\nno-such-package-anywhere==9.9\n")
	m := manager(t, t.TempDir(), packenv.Config{})
	env, err := wait(t, m, packDir, packenv.Python)
	if err == nil || env.State != packenv.Failed {
		t.Fatalf("want a failed build, got %+v", env)
	}
	if !strings.Contains(err.Error(), env.Log) || !strings.Contains(err.Error(), "requirements.txt") {
		t.Fatalf("reason does not name the file and the log: %v", err)
	}
	if log, _ := os.ReadFile(env.Log); !strings.Contains(string(log), "no-such-package-anywhere") {
		t.Fatalf("log does not say what failed: %s", log)
	}
	if _, err := os.Stat(env.Dir); !os.IsNotExist(err) {
		t.Fatalf("a failed build left %s: %v", env.Dir, err)
	}
	st := m.Status()
	if len(st) != 1 || st[0].State != packenv.Failed {
		t.Fatalf("status: %+v", st)
	}
}

func TestBuildIsBoundedAndSeesNoneOfTheWorkersEnvironment(t *testing.T) {
	t.Setenv("ATTUNE_TEST_DATABASE_PASSWORD", "hunter2")
	bin := t.TempDir()
	// A python3 that prints its environment, then hangs: the build must stop at the timeout.
	write(t, filepath.Join(bin, "python3"), "#!/bin/sh\nenv\nexec sleep 600\n")
	packDir := pythonPack(t, `"x"`)
	m := manager(t, t.TempDir(), packenv.Config{Python: filepath.Join(bin, "python3"), Timeout: time.Second})
	env, err := wait(t, m, packDir, packenv.Python)
	if err == nil || !strings.Contains(err.Error(), "longer than 1s") {
		t.Fatalf("want a timeout, got %+v, %v", env, err)
	}
	log, _ := os.ReadFile(env.Log)
	if !strings.Contains(string(log), "PIP_NO_INPUT=1") {
		t.Fatalf("the fake python did not run: %s", log)
	}
	if strings.Contains(string(log), "hunter2") {
		t.Fatalf("the worker's environment reached the build: %s", log)
	}
}

func TestNodeModulesFromPackageJSON(t *testing.T) {
	packDir := filepath.Join(t.TempDir(), "deps_pack")
	write(t, filepath.Join(packDir, "deps", "shout", "package.json"), `{"name": "shout", "version": "1.0.0", "main": "index.js"}`)
	write(t, filepath.Join(packDir, "deps", "shout", "index.js"), "module.exports = s => s.toUpperCase() + '!';\n")
	write(t, filepath.Join(packDir, "package.json"), `{"name": "deps_pack", "version": "1.0.0", "dependencies": {"shout": "file:./deps/shout"}}`)
	env, err := wait(t, manager(t, t.TempDir(), packenv.Config{}), packDir, packenv.Node)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "-e", "console.log(require('shout')('hi'))")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NODE_PATH=" + env.NodePath()}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "HI!" {
		t.Fatalf("require from NODE_PATH: %v: %s", err, out)
	}
}

func TestAPackWithoutDependencyFilesNeedsNothing(t *testing.T) {
	m := manager(t, t.TempDir(), packenv.Config{})
	_, ok, err := m.Wait(context.Background(), "plain", t.TempDir(), packenv.Python)
	if ok || err != nil {
		t.Fatalf("ok %v, err %v", ok, err)
	}
}
