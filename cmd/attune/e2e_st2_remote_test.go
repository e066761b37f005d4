package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/sshexec/sshtest"
	"github.com/attune-go/attune/domain/execution"
)

// st2RemotePack is the StackStorm fixture pack of remote actions (core.remote's and
// core.remote_sudo's shape, a remote-shell-script with a lib directory).
const st2RemotePack = "testdata/stackstorm/st2_remote"

// A StackStorm pack whose actions run over SSH loads and runs: the worker logs in with its
// --ssh-user and --ssh-key-file (or the action's password), checks host keys against
// --ssh-known-hosts, and the result is StackStorm's mapping from host to result.
func TestE2EStackStormRemoteRunners(t *testing.T) {
	t.Parallel()
	pub, private := sshtest.ClientKey(t)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, []byte(private), 0o600); err != nil {
		t.Fatal(err)
	}
	const password = "pw-e2e-7f3a9c"
	a := sshtest.Start(t, "127.0.0.1", sshtest.Options{User: "ops", Key: pub, Password: password, Env: []string{"HOSTTAG=a"}})
	b := sshtest.Start(t, "127.0.0.2", sshtest.Options{User: "ops", Key: pub, Env: []string{"HOSTTAG=b"}})
	stranger := sshtest.Start(t, "127.0.0.3", sshtest.Options{User: "ops", Key: pub})
	knownHosts := sshtest.KnownHosts(t, a, b)
	sys := startSystem(t, "inprocess", nil, "--ssh-known-hosts", knownHosts, "--ssh-user", "ops", "--ssh-key-file", keyFile)
	cli := func(args ...string) (string, string, error) {
		return attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
	}
	dir, err := filepath.Abs(st2RemotePack)
	if err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := cli("pack", "load", dir); err != nil || !strings.Contains(out, "st2_remote") {
		t.Fatalf("pack load: %v\n%s\n%s", err, out, stderr)
	}
	run := func(action string, params ...string) (httpapi.Execution, map[string]any) {
		t.Helper()
		out, _, _ := cli(append([]string{"run", action, "--wait", "--json"}, params...)...)
		var x httpapi.Execution
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("run %s: output is not an execution: %v\n%s", action, err, out)
		}
		var r map[string]any
		_ = json.Unmarshal(x.Result, &r)
		return x, r
	}
	host := func(r map[string]any, name string) map[string]any {
		h, _ := r[name].(map[string]any)
		return h
	}

	// One command on two hosts; it fails on one, so the execution fails, and both show.
	x, r := run("st2_remote.remote_cmd", "hosts="+a.Addr+","+b.Addr, `cmd=echo "on $HOSTTAG"; [ "$HOSTTAG" = a ]`)
	if x.Status != execution.Failed || host(r, "127.0.0.1")["stdout"] != "on a" || host(r, "127.0.0.1")["succeeded"] != true ||
		host(r, "127.0.0.2")["stdout"] != "on b" || host(r, "127.0.0.2")["return_code"] != 1.0 || host(r, "127.0.0.2")["failed"] != true {
		t.Errorf("remote_cmd on two hosts: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	// The action's password instead of the worker's key; it never reaches the log.
	if x, r := run("st2_remote.remote_cmd", "hosts="+a.Addr, "cmd=echo in", "password="+password); x.Status != execution.Completed || host(r, "127.0.0.1")["stdout"] != "in" {
		t.Errorf("remote_cmd with a password: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	// remote-shell-script: StackStorm's arguments, the lib directory copied with the script.
	x, r = run("st2_remote.args", "hosts="+b.Addr, "target=db1", `items=["x","y"]`)
	if want := "--count=2\n--verbose\ndb1\nx,y\ncwd=/tmp\nlib=hello from lib"; x.Status != execution.Completed || host(r, "127.0.0.2")["stdout"] != want {
		t.Errorf("args: %s %s (%s)", x.Status, x.Result, x.Reason)
	}
	// A host not in known_hosts is refused, with the fix.
	x, r = run("st2_remote.remote_cmd", "hosts="+stranger.Addr, "cmd=echo hi")
	if msg, _ := host(r, "127.0.0.3")["error"].(string); x.Status != execution.Failed || !strings.Contains(msg, "is not in the known hosts file "+knownHosts) {
		t.Errorf("unknown host: %s %s", x.Status, x.Result)
	}
	if len(stranger.Commands()) != 0 {
		t.Errorf("the unknown host was sent %v", stranger.Commands())
	}

	var n int
	if err := sys.schema.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%' OR metadata::text LIKE '%' || $1 || '%'`, password).Scan(&n); err != nil || n != 0 {
		t.Errorf("events holding the password in plaintext: %d (%v)", n, err)
	}
	if strings.Contains(sys.logs.String(), password) {
		t.Error("the server's log holds the password")
	}
}
