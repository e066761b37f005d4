package st2

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/adapters/sshexec"
	"github.com/attune-go/attune/domain/execution"
)

// SSHConfig configures the remote runners on a worker.
type SSHConfig struct {
	sshexec.Config
	// User logs in when an action gives no username (StackStorm's [system_user] user).
	User string
	// KeyFile is the private key used when an action gives neither password nor private_key
	// (StackStorm's [system_user] ssh_key_file).
	KeyFile string
}

// maxParallelHosts caps the hosts one run talks to at once (StackStorm's
// ssh_runner.max_parallel_actions).
const maxParallelHosts = 50

// hostResult is one host's entry in a remote runner's result, as StackStorm's
// ParallelSSHClient shapes it; a host that could not run the command (no connection, a
// timeout) also has error and timeout.
type hostResult struct {
	Failed     bool   `json:"failed"`
	Succeeded  bool   `json:"succeeded"`
	ReturnCode int    `json:"return_code"`
	Stdout     any    `json:"stdout"`
	Stderr     any    `json:"stderr"`
	Timeout    *bool  `json:"timeout,omitempty"`
	Error      string `json:"error,omitempty"`
	timedOut   bool
	cancelled  bool
	truncated  bool
}

// hostRun is what runs on each host.
type hostRun struct {
	job          remoteJob
	auth         sshexec.Auth
	bastion      string
	timeout      time.Duration
	script       string // the shell text the wrapper evaluates (shellScriptOf)
	sudo         bool
	sudoPassword string
	output       runtime.OutputSink
}

// removeTimeout bounds the removal of a script's directory.
const removeTimeout = 30 * time.Second

// remoteCmd is remote-shell-cmd: the cmd parameter run by bash on every host of hosts.
func (r *runners) remoteCmd(ctx context.Context, req runtime.Request) runtime.Outcome {
	c, failed := r.prepare(ctx, req)
	if failed != nil {
		return *failed
	}
	cmd := c.str("cmd")
	if strings.TrimSpace(cmd) == "" {
		return runtime.Failed("%s: parameter cmd is empty: a remote-shell-cmd action runs its cmd", req.Action)
	}
	return r.remote(ctx, req, c, remoteJob{command: cmd})
}

// remoteScript is remote-shell-script: the entry point (and the lib directory beside it, as
// StackStorm copies it) copied to <dir>/<execution id> on every host, run there with
// StackStorm's arguments, and the directory removed.
func (r *runners) remoteScript(ctx context.Context, req runtime.Request) runtime.Outcome {
	c, failed := r.prepareScript(ctx, req)
	if failed != nil {
		return *failed
	}
	archive, err := scriptArchive(req.EntryPoint)
	if err != nil {
		return runtime.Failed("%s: %v", req.Action, err)
	}
	dir := path.Join(cmp.Or(c.str("dir"), "/tmp"), req.ExecutionID)
	script := path.Join(dir, filepath.Base(req.EntryPoint))
	words := []string{shQuote(script)}
	for _, a := range scriptArgs(c.action, req.Params, c.kwargOp()) {
		words = append(words, shQuote(a))
	}
	return r.remote(ctx, req, c, remoteJob{command: strings.Join(words, " "), dir: dir, archive: archive})
}

// remoteJob is what runs on each host: the command and, for a script, the directory it is
// unpacked into (a tar archive) and removed from afterwards.
type remoteJob struct {
	command string
	dir     string
	archive []byte
}

// remote runs job on every host of the hosts parameter, at most one at a time unless
// parallel, and shapes the outcome as StackStorm does: a mapping from host to its result,
// failed when any host failed, timed out when all of them did.
func (r *runners) remote(ctx context.Context, req runtime.Request, c *call, job remoteJob) runtime.Outcome {
	hosts, err := c.hosts()
	if err != nil {
		return runtime.Failed("%s: %v", req.Action, err)
	}
	env, err := c.env(req)
	if err != nil {
		return runtime.Failed("%s: %v", req.Action, err)
	}
	auth := sshexec.Auth{User: cmp.Or(c.str("username"), r.cfg.SSH.User), Password: c.str("password"),
		PrivateKey: c.str("private_key"), Passphrase: c.str("passphrase")}
	if auth.Password == "" && auth.PrivateKey == "" {
		auth.PrivateKey = r.cfg.SSH.KeyFile
	}
	sudo, _ := c.runner["sudo"].(bool)
	run := hostRun{job: job, auth: auth, bastion: c.str("bastion_host"), timeout: c.timeout(req),
		script: shellScriptOf(env, c.str("cwd"), job.command), sudo: sudo, sudoPassword: c.str("sudo_password")}
	limit := 1
	if parallel, _ := c.runner["parallel"].(bool); parallel {
		limit = min(len(hosts)/3+1, maxParallelHosts)
	}
	return c.masked(req, func(req runtime.Request) runtime.Outcome {
		if len(hosts) == 1 {
			run.output = req.Output // StackStorm streams the output of a single host only
		}
		return r.onHosts(ctx, hosts, limit, run, c.timeout(req))
	})
}

// onHosts runs on every host, at most limit at once, and gathers the results.
func (r *runners) onHosts(ctx context.Context, hosts []target, limit int, run hostRun, timeout time.Duration) runtime.Outcome {
	results := make(map[string]*hostResult, len(hosts))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(limit)
	for _, h := range hosts {
		g.Go(func() error {
			res := r.runOnHost(ctx, h, run)
			mu.Lock()
			results[h.name] = res
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	o := runtime.Outcome{Status: execution.Completed, Result: resultOf(results)}
	var failed, timedOut []string
	cancelled := false
	for _, name := range slices.Sorted(maps.Keys(results)) {
		res := results[name]
		if res.Failed {
			failed = append(failed, name)
		}
		if res.timedOut {
			timedOut = append(timedOut, name)
		}
		cancelled = cancelled || res.cancelled
		o.Truncated = o.Truncated || res.truncated
	}
	if len(hosts) == 1 {
		res := results[hosts[0].name]
		code := res.ReturnCode
		o.ExitCode = &code
		o.Stdout, _ = res.Stdout.(string)
		o.Stderr, _ = res.Stderr.(string)
	}
	switch {
	case len(failed) == 0:
	case cancelled:
		o.Status, o.Reason = execution.Cancelled, "cancelled: the remote commands were signalled and their sessions closed"
	case len(timedOut) == len(hosts):
		o.Status, o.Reason = execution.Timeout, fmt.Sprintf("timed out after %s on %s", timeout, strings.Join(timedOut, ", "))
	default:
		o.Status, o.Reason = execution.Failed, fmt.Sprintf("failed on %s (of %d hosts)", strings.Join(failed, ", "), len(hosts))
	}
	return o
}

// target is one host of the hosts parameter.
type target struct {
	name string // the result's key: the host name without its port, as StackStorm keys it
	addr string // host:port
}

// hosts reads the hosts parameter: comma-separated, each with its own port or the port
// parameter's (22 by default). StackStorm keys the result by host name, so two entries of one
// host on two ports would overwrite each other there: here they are refused.
func (c *call) hosts() ([]target, error) {
	port := sshexec.DefaultPort
	if n, ok := c.runner["port"].(json.Number); ok {
		p, err := strconv.Atoi(n.String())
		if err != nil {
			return nil, fmt.Errorf("parameter port: %v is not a port", n)
		}
		port = p
	}
	var out []target
	seen := map[string]bool{}
	for _, entry := range strings.Split(c.str("hosts"), ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		host, p, err := sshexec.SplitHostPort(entry, port)
		if err != nil {
			return nil, fmt.Errorf("parameter hosts: %w", err)
		}
		if seen[host] {
			return nil, fmt.Errorf("parameter hosts: %s is named twice: the result is keyed by host name, as StackStorm keys it, so one would hide the other", host)
		}
		seen[host] = true
		out = append(out, target{name: host, addr: net.JoinHostPort(host, strconv.Itoa(p))})
	}
	if len(out) == 0 {
		return nil, errors.New("parameter hosts names no host: give a comma-separated list such as web1,web2:2222")
	}
	return out, nil
}

// runOnHost connects to one host, copies the job's archive when it has one, runs the script
// and removes the copy. Every way it ends is a result: StackStorm reports a host it could not
// reach in the result rather than failing the whole run.
func (r *runners) runOnHost(ctx context.Context, h target, run hostRun) *hostResult {
	hctx, cancel := runtime.WithTimeout(ctx, run.timeout)
	defer cancel()
	ended := func(msg string, stdout, stderr string) *hostResult {
		res := &hostResult{Failed: true, ReturnCode: 255, Stdout: stdout, Stderr: stderr, Error: msg}
		switch status, _ := runtime.Interrupted(hctx); {
		case hctx.Err() == nil:
		case status == execution.Timeout:
			res.timedOut, res.ReturnCode = true, -9
			res.Error = fmt.Sprintf("Command didn't finish in %v seconds on host %s", run.timeout.Seconds(), h.name)
		default:
			res.cancelled = true
			res.Error = "cancelled"
		}
		t := res.timedOut
		res.Timeout = &t
		return res
	}
	client, err := sshexec.Dial(hctx, r.cfg.SSH.Config, run.auth, h.addr, run.bastion)
	if err != nil {
		return ended(fmt.Sprintf("Failed connecting to host %s: %v", h.name, err), "", "")
	}
	defer func() { _ = client.Close() }()
	if job := run.job; job.archive != nil {
		var stderr bytes.Buffer
		code, err := client.Run(hctx, "umask 077 && mkdir -p -- "+shQuote(job.dir)+" && tar -xf - -C "+shQuote(job.dir), bytes.NewReader(job.archive), io.Discard, &stderr)
		// The copy goes even when the run was interrupted: nothing else removes it.
		defer r.removeDir(context.WithoutCancel(ctx), client, job.dir)
		if err != nil || code != 0 {
			return ended(fmt.Sprintf("Failed copying the script to %s on host %s (exit %d): %v %s", job.dir, h.name, code, err, strings.TrimSpace(stderr.String())), "", "")
		}
	}
	marker := newMarker()
	var stdin bytes.Buffer
	if run.sudo && run.sudoPassword != "" {
		stdin.WriteString(run.sudoPassword + "\n")
	}
	stdin.WriteString(marker + "\n" + run.script + "\n")
	stdout := &capped{stream: "stdout", sink: run.output}
	stderr := &capped{stream: "stderr", sink: run.output}
	code, err := client.Run(hctx, remoteCommand(marker, run.sudo, run.sudoPassword != ""), &stdin, stdout, stderr)
	out, errText := stripShellChars(stdout.String()), stripShellChars(stderr.String())
	if err != nil {
		return ended(fmt.Sprintf("Failed executing the command on host %s: %v", h.name, err), out, errText)
	}
	res := &hostResult{Failed: code != 0, Succeeded: code == 0, ReturnCode: code, Stdout: jsonOrText(out), Stderr: jsonOrText(errText),
		truncated: stdout.truncated || stderr.truncated}
	if run.sudoPassword != "" && strings.Contains(errText, "incorrect password attempt") {
		res.Error = "Invalid sudo password provided or sudo is not configured for this user (" + run.auth.User + ")"
	}
	return res
}

// removeDir removes a script's directory from a host, bounded: a host that hangs does not
// hold the run.
func (r *runners) removeDir(ctx context.Context, client *sshexec.Client, dir string) {
	ctx, cancel := context.WithTimeout(ctx, removeTimeout)
	defer cancel()
	if code, err := client.Run(ctx, "rm -rf -- "+shQuote(dir), nil, io.Discard, io.Discard); err != nil || code != 0 {
		r.cfg.Logger.Warn("remove a remote script's directory", "dir", dir, "exit", code, "error", err)
	}
}

// remoteCommand is the command line sent to the host. It holds nothing of the action: bash
// reads the script from standard input, after the sudo password when there is one and up to a
// marker line, so that neither the command (which a template may have filled with a secret)
// nor the password ever appears in the remote host's process list. The script runs in the
// background of a shell that, on SIGTERM or a hang-up, kills its whole process group (the
// session's), so that cancelling or timing out an action stops what it started.
func remoteCommand(marker string, sudo, sudoPassword bool) string {
	wrapper := `while IFS= read -r l; do [ "$l" = ` + marker + ` ] && break; done; s=$(cat); ` +
		`trap 'kill -TERM 0 2>/dev/null; exit 143' TERM HUP INT; (eval "$s") </dev/null & wait $!`
	cmd := "bash -c " + shQuote(wrapper)
	switch {
	case sudo && sudoPassword:
		// -S reads the password from standard input; without a prompt it reads nothing,
		// and the wrapper skips the line.
		return "sudo -S -p '' -E -- " + cmd
	case sudo:
		// -n: fail at once, rather than wait for a password nobody will type.
		return "sudo -n -E -- " + cmd
	}
	return cmd
}

// shellScriptOf is StackStorm's remote command: the env exported, then cd to cwd, then the
// command (ParamikoRemoteCommandAction.get_full_command_string).
func shellScriptOf(env []string, cwd, command string) string {
	var parts []string
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		parts = append(parts, "export "+name+"="+shQuote(value))
	}
	if cwd != "" {
		parts = append(parts, "cd "+shQuote(cwd))
	}
	return strings.Join(append(parts, command), " && ")
}

// scriptArchive packs the script (mode 0744, as StackStorm copies it) and the lib directory
// beside it, when there is one, for tar on the host to unpack.
func scriptArchive(entryPoint string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	data, err := os.ReadFile(entryPoint)
	if err != nil {
		return nil, fmt.Errorf("read the entry point: %w", err)
	}
	if err := add(filepath.Base(entryPoint), 0o744, data); err != nil {
		return nil, err
	}
	lib := filepath.Join(filepath.Dir(entryPoint), "lib")
	if st, err := os.Stat(lib); err == nil && st.IsDir() {
		err := filepath.WalkDir(lib, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(filepath.Dir(entryPoint), p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return add(filepath.ToSlash(rel), int64(info.Mode().Perm()), b)
		})
		if err != nil {
			return nil, fmt.Errorf("pack the lib directory: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shQuote quotes s for a POSIX shell, as StackStorm's quote_unix does.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// newMarker is a line no password or script begins with by chance.
func newMarker() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "ATTUNE_" + hex.EncodeToString(b)
}

// capped keeps up to process.DefaultMaxOutputBytes of one stream and passes what it gets on
// to sink while the command runs.
type capped struct {
	stream    string
	sink      runtime.OutputSink
	buf       bytes.Buffer
	truncated bool
}

func (w *capped) Write(p []byte) (int, error) {
	if w.sink != nil {
		w.sink.Output(w.stream, p)
	}
	room := process.DefaultMaxOutputBytes - w.buf.Len()
	if len(p) > room {
		w.truncated = true
		w.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	w.buf.Write(p)
	return len(p), nil
}

func (w *capped) String() string { return w.buf.String() }
