package st2_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/adapters/runtime/st2"
	"github.com/attune-go/attune/adapters/sshexec"
	"github.com/attune-go/attune/adapters/sshexec/sshtest"
	"github.com/attune-go/attune/domain/execution"
)

// remoteFixtures is the StackStorm pack of remote actions the end-to-end test runs too.
const remoteFixtures = "../../../cmd/attune/testdata/stackstorm/st2_remote"

// remoteHarness runs the remote fixture pack's actions against SSH servers in this process.
type remoteHarness struct {
	*harness
	keyFile string
}

// newRemoteHarness loads the fixture pack; the runners log in as ops with keyFile's key
// (the worker's --ssh-key-file) and check host keys against knownHosts.
func newRemoteHarness(t *testing.T, knownHosts, keyFile string) *remoteHarness {
	t.Helper()
	p, err := packloader.LoadDir(remoteFixtures, nil)
	if err != nil {
		t.Fatalf("load the fixture pack: %v", err)
	}
	runners := st2.Runners(st2.Config{TempDir: t.TempDir(),
		SSH: st2.SSHConfig{Config: sshexec.Config{KnownHosts: knownHosts}, User: "ops", KeyFile: keyFile}})
	return &remoteHarness{harness: &harness{t: t, pack: p, runners: runners}, keyFile: keyFile}
}

// workerKey makes the worker's key pair and writes its private key to a file.
func workerKey(t *testing.T) (sshtest.Options, string) {
	t.Helper()
	pub, private := sshtest.ClientKey(t)
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, []byte(private), 0o600); err != nil {
		t.Fatal(err)
	}
	return sshtest.Options{User: "ops", Key: pub}, file
}

func hostResultOf(t *testing.T, r map[string]any, host string) map[string]any {
	t.Helper()
	h, ok := r[host].(map[string]any)
	if !ok {
		t.Fatalf("no result for host %s in %v", host, r)
	}
	return h
}

// A command on two hosts: one fails, so the execution fails, and the result still shows both,
// keyed by host as StackStorm keys them. The command never travels on a command line.
func TestRemoteShellCmdOnTwoHosts(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	a := sshtest.Start(t, "127.0.0.1", withEnv(login, "HOSTTAG=a"))
	b := sshtest.Start(t, "127.0.0.2", withEnv(login, "HOSTTAG=b"))
	h := newRemoteHarness(t, sshtest.KnownHosts(t, a, b), keyFile)
	hosts := a.Addr + "," + b.Addr

	o := h.run("remote_cmd", map[string]any{"hosts": hosts, "cmd": `echo "on $HOSTTAG"; echo "err $HOSTTAG" >&2; [ "$HOSTTAG" = a ]`})
	r := result(t, o)
	if o.Status != execution.Failed || !strings.Contains(o.Reason, "127.0.0.2") || strings.Contains(o.Reason, "127.0.0.1") {
		t.Fatalf("status %s (%s), want failed on 127.0.0.2 only; result %s", o.Status, o.Reason, o.Result)
	}
	wantA := map[string]any{"failed": false, "succeeded": true, "return_code": 0.0, "stdout": "on a", "stderr": "err a"}
	wantB := map[string]any{"failed": true, "succeeded": false, "return_code": 1.0, "stdout": "on b", "stderr": "err b"}
	if got := hostResultOf(t, r, "127.0.0.1"); !equalJSON(got, wantA) {
		t.Errorf("127.0.0.1: %v, want %v", got, wantA)
	}
	if got := hostResultOf(t, r, "127.0.0.2"); !equalJSON(got, wantB) {
		t.Errorf("127.0.0.2: %v, want %v", got, wantB)
	}
	for _, s := range []*sshtest.Server{a, b} {
		for _, line := range s.Commands() {
			if strings.Contains(line, "HOSTTAG") {
				t.Errorf("the command reached the host's command line: %s", line)
			}
		}
	}

	// The older runner name, a rendered cmd, env and cwd; JSON output parsed.
	o = h.run("greet", map[string]any{"hosts": hosts, "name": "Ada"})
	if o.Status != execution.Completed {
		t.Fatalf("greet: %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	if got := hostResultOf(t, result(t, o), "127.0.0.2"); got["stdout"] != "Hello, Ada, from /" || got["stderr"] != "hi there" {
		t.Errorf("greet on 127.0.0.2: %v", got)
	}
	o = h.run("remote_cmd", map[string]any{"hosts": a.Addr, "cmd": `echo '{"n": 3}'`})
	if out, _ := hostResultOf(t, result(t, o), "127.0.0.1")["stdout"].(map[string]any); o.Status != execution.Completed || out["n"] != 3.0 {
		t.Errorf("JSON stdout: %s %s", o.Status, o.Result)
	}
}

func withEnv(o sshtest.Options, env ...string) sshtest.Options {
	o.Env = append(o.Env, env...)
	return o
}

// Credentials: the action's password or private key (material or a file on the worker)
// override the worker's key; a host that refuses them fails with the reason.
func TestRemoteShellCmdCredentials(t *testing.T) {
	t.Parallel()
	pub, material := sshtest.ClientKey(t)
	_, workerKeyFile := workerKey(t)
	srv := sshtest.Start(t, "127.0.0.1", sshtest.Options{User: "deploy", Password: "s3cret", Key: pub})
	h := newRemoteHarness(t, sshtest.KnownHosts(t, srv), workerKeyFile)
	keyFile := filepath.Join(t.TempDir(), "deploy_key")
	if err := os.WriteFile(keyFile, []byte(material), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, creds := range map[string]map[string]any{
		"password":           {"password": "s3cret"},
		"key material":       {"private_key": material},
		"key file on worker": {"private_key": keyFile},
	} {
		params := map[string]any{"hosts": srv.Addr, "username": "deploy", "cmd": "whoami >/dev/null; echo in"}
		for k, v := range creds {
			params[k] = v
		}
		if o := h.run("remote_cmd", params); o.Status != execution.Completed || hostResultOf(t, result(t, o), "127.0.0.1")["stdout"] != "in" {
			t.Errorf("%s: %s (%s) %s", name, o.Status, o.Reason, o.Result)
		}
	}
	o := h.run("remote_cmd", map[string]any{"hosts": srv.Addr, "username": "deploy", "password": "wrong", "cmd": "true"})
	res := hostResultOf(t, result(t, o), "127.0.0.1")
	if o.Status != execution.Failed || res["return_code"] != 255.0 || !strings.Contains(res["error"].(string), "unable to authenticate") {
		t.Errorf("a wrong password: %s %s", o.Status, o.Result)
	}
	if strings.Contains(string(o.Result), "wrong") {
		t.Errorf("the password reached the result: %s", o.Result)
	}
}

// A host whose key is not in known_hosts is refused with the fix; one whose key changed is
// refused as a possible interception.
func TestRemoteShellCmdRefusesUnknownHostKeys(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	known := sshtest.Start(t, "127.0.0.1", login)
	stranger := sshtest.Start(t, "127.0.0.2", login)
	h := newRemoteHarness(t, sshtest.KnownHosts(t, known), keyFile)
	o := h.run("remote_cmd", map[string]any{"hosts": stranger.Addr, "cmd": "echo hi"})
	res := hostResultOf(t, result(t, o), "127.0.0.2")
	_, port, _ := strings.Cut(stranger.Addr, ":")
	msg, _ := res["error"].(string)
	if o.Status != execution.Failed || !strings.Contains(msg, "host "+stranger.Addr+" is not in the known hosts file") ||
		!strings.Contains(msg, "ssh-keyscan -p "+port+" 127.0.0.2 >> ") {
		t.Errorf("unknown host: %s %s", o.Status, o.Result)
	}
	if len(stranger.Commands()) != 0 {
		t.Errorf("the unknown host was sent %v", stranger.Commands())
	}

	// known_hosts holds another key for the address: a mismatch.
	file := filepath.Join(t.TempDir(), "known_hosts")
	line := strings.Replace(string(mustRead(t, sshtest.KnownHosts(t, stranger))), "[127.0.0.2]:"+port, "["+strings.Replace(known.Addr, ":", "]:", 1), 1)
	if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	h = newRemoteHarness(t, file, keyFile)
	o = h.run("remote_cmd", map[string]any{"hosts": known.Addr, "cmd": "echo hi"})
	if msg, _ := hostResultOf(t, result(t, o), "127.0.0.1")["error"].(string); o.Status != execution.Failed || !strings.Contains(msg, "does not match the one in "+file+":1") {
		t.Errorf("changed key: %s %s", o.Status, o.Result)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// remote-shell-script: the script and its lib directory copied to <dir>/<execution id>, run
// with StackStorm's arguments in cwd, and removed.
func TestRemoteShellScriptArguments(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	srv := sshtest.Start(t, "127.0.0.1", login)
	h := newRemoteHarness(t, sshtest.KnownHosts(t, srv), keyFile)
	dir := t.TempDir()
	o := h.run("args", map[string]any{"hosts": srv.Addr, "dir": dir, "target": "db1", "items": []string{"a", "b"}, "note": "two words; $(x)"})
	if o.Status != execution.Completed {
		t.Fatalf("status %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	want := "--count=2\n--note=two words; $(x)\n--verbose\ndb1\na,b\ncwd=/tmp\nlib=hello from lib"
	if got := hostResultOf(t, result(t, o), "127.0.0.1")["stdout"]; got != want {
		t.Errorf("stdout\n%v\nwant\n%s", got, want)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the script's directory was left on the host: %v", left)
	}
}

// A command past its timeout: the execution times out, the host's result says so, and the
// remote process is stopped.
func TestRemoteShellCmdTimeout(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	srv := sshtest.Start(t, "127.0.0.1", login)
	h := newRemoteHarness(t, sshtest.KnownHosts(t, srv), keyFile)
	pidFile := filepath.Join(t.TempDir(), "pid")
	o := h.run("remote_cmd", map[string]any{"hosts": srv.Addr, "timeout": 1, "cmd": "echo started; sleep 300 & echo $! > " + pidFile + "; wait"})
	res := hostResultOf(t, result(t, o), "127.0.0.1")
	if o.Status != execution.Timeout || res["timeout"] != true || res["return_code"] != -9.0 || res["stdout"] != "started" {
		t.Fatalf("status %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(mustRead(t, pidFile))))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, "the timeout")
}

// alive reports a process that exists and is not a zombie.
// waitGone polls until the process pid has ended, failing the test if it still runs after
// 10 s: the remote command must stop when its run ends (after what).
func waitGone(t *testing.T, pid int, after string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the remote sleep (pid %d) still runs after %s", pid, after)
		}
		time.Sleep(20 * time.Millisecond) // polling the process table
	}
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')') // the command name may hold one
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// sudo: the command runs under sudo -E, the sudo password reaches sudo on its standard input
// (never its command line), and a wrong one is named. The host's sudo is a stand-in that
// checks the password and records its arguments.
func TestRemoteShellCmdSudo(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	bin := t.TempDir()
	argv := filepath.Join(t.TempDir(), "sudo-argv")
	sudo := `#!/usr/bin/env bash
printf '%s\n' "$*" >> ` + argv + `
if [ "$1" = -S ]; then
  IFS= read -r pw
  [ "$pw" = hunter2 ] || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
fi
while [ "$1" != -- ]; do shift; done
shift
SUDO_USER=ops exec "$@"
`
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(sudo), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, "127.0.0.1", withEnv(login, "PATH="+bin+":"+os.Getenv("PATH")))
	h := newRemoteHarness(t, sshtest.KnownHosts(t, srv), keyFile)
	o := h.run("remote_sudo", map[string]any{"hosts": srv.Addr, "cmd": `echo "as $SUDO_USER"`})
	if o.Status != execution.Completed || hostResultOf(t, result(t, o), "127.0.0.1")["stdout"] != "as ops" {
		t.Fatalf("sudo: %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	o = h.run("remote_sudo", map[string]any{"hosts": srv.Addr, "cmd": `echo "as $SUDO_USER"`, "sudo_password": "hunter2"})
	if o.Status != execution.Completed || hostResultOf(t, result(t, o), "127.0.0.1")["stdout"] != "as ops" {
		t.Fatalf("sudo with a password: %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	o = h.run("remote_sudo", map[string]any{"hosts": srv.Addr, "cmd": "echo no", "sudo_password": "wrong"})
	if msg, _ := hostResultOf(t, result(t, o), "127.0.0.1")["error"].(string); o.Status != execution.Failed || !strings.Contains(msg, "Invalid sudo password") {
		t.Errorf("a wrong sudo password: %s %s", o.Status, o.Result)
	}
	recorded := string(mustRead(t, argv))
	if !strings.Contains(recorded, "-n -E -- bash -c") || !strings.Contains(recorded, "-S -p  -E -- bash -c") {
		t.Errorf("sudo's arguments:\n%s", recorded)
	}
	if strings.Contains(recorded, "hunter2") || strings.Contains(recorded, "SUDO_USER") {
		t.Errorf("the password or the command reached sudo's command line:\n%s", recorded)
	}
}

// A cancelled run stops the remote command and ends cancelled.
func TestRemoteShellCmdCancel(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	srv := sshtest.Start(t, "127.0.0.1", login)
	h := newRemoteHarness(t, sshtest.KnownHosts(t, srv), keyFile)
	pidFile := filepath.Join(t.TempDir(), "pid")
	// Bounded: should the command never start, the run ends at the deadline, not after the
	// remote sleep's 300 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if b, err := os.ReadFile(pidFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	o := h.runCtx(ctx, "remote_cmd", map[string]any{"hosts": srv.Addr, "cmd": "sleep 300 & echo $! > " + pidFile + "; wait"})
	if o.Status != execution.Cancelled {
		t.Fatalf("status %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(mustRead(t, pidFile))))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, "the cancellation")
}

// bastion_host: the connection to the host goes through the bastion, whose key is checked
// too.
func TestRemoteShellCmdThroughABastion(t *testing.T) {
	t.Parallel()
	login, keyFile := workerKey(t)
	bastionLogin := login
	bastionLogin.Forward = true
	bastion := sshtest.Start(t, "127.0.0.2", bastionLogin)
	srv := sshtest.Start(t, "127.0.0.1", login)
	h := newRemoteHarness(t, sshtest.KnownHosts(t, srv, bastion), keyFile)
	o := h.run("remote_cmd", map[string]any{"hosts": srv.Addr, "bastion_host": bastion.Addr, "cmd": "echo via"})
	if o.Status != execution.Completed || hostResultOf(t, result(t, o), "127.0.0.1")["stdout"] != "via" {
		t.Fatalf("status %s (%s) %s", o.Status, o.Reason, o.Result)
	}
	if got := bastion.Forwarded(); len(got) != 1 || got[0] != srv.Addr {
		t.Errorf("the bastion forwarded %v, want [%s]", got, srv.Addr)
	}
	h = newRemoteHarness(t, sshtest.KnownHosts(t, srv), keyFile)
	o = h.run("remote_cmd", map[string]any{"hosts": srv.Addr, "bastion_host": bastion.Addr, "cmd": "echo via"})
	if msg, _ := hostResultOf(t, result(t, o), "127.0.0.1")["error"].(string); o.Status != execution.Failed || !strings.Contains(msg, "bastion: connect to "+bastion.Addr) || !strings.Contains(msg, "is not in the known hosts file") {
		t.Errorf("an unknown bastion: %s %s", o.Status, o.Result)
	}
}
