// Package sshtest runs SSH servers in a test's process for the remote runners' tests: each
// runs the commands it is sent with bash on this machine, as sshd runs them with the user's
// shell, in a session of their own (as sshd does, so a command that kills its process group
// kills only itself), delivers SIGTERM requests to the command as OpenSSH's sshd does, and
// logs in one user with a password or a key.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is one SSH server listening on a loopback address.
type Server struct {
	Addr    string // host:port
	HostKey gossh.PublicKey

	env      []string
	mu       sync.Mutex
	commands []string
}

// Options are who a server lets in and what its commands see.
type Options struct {
	User     string
	Password string
	// Key is the public key accepted besides the password (nil: none).
	Key gossh.PublicKey
	// Env is added to the commands' environment (a PATH with stand-ins, say).
	Env []string
}

// Start starts a server on host (an address of the loopback, such as 127.0.0.1 or
// 127.0.0.2) and stops it when the test ends.
func Start(t testing.TB, host string, login Options) *Server {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	s := &Server{Addr: ln.Addr().String(), HostKey: signer.PublicKey(), env: login.Env}
	srv := &ssh.Server{
		Handler: s.handle,
		PasswordHandler: func(ctx ssh.Context, password string) bool {
			return ctx.User() == login.User && login.Password != "" && password == login.Password
		},
		PublicKeyHandler: func(ctx ssh.Context, key ssh.PublicKey) bool {
			return ctx.User() == login.User && login.Key != nil && ssh.KeysEqual(key, login.Key)
		},
	}
	srv.AddHostKey(signer)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Commands are the command lines the server was sent, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// handle runs one session's command with bash, as sshd runs it with the user's shell.
func (s *Server) handle(sess ssh.Session) {
	s.mu.Lock()
	s.commands = append(s.commands, sess.RawCommand())
	s.mu.Unlock()
	cmd := exec.Command("bash", "-c", sess.RawCommand())
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = sess, sess.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = sess.Exit(255)
		return
	}
	if err := cmd.Start(); err != nil {
		_, _ = io.WriteString(sess.Stderr(), err.Error())
		_ = sess.Exit(255)
		return
	}
	go func() {
		_, _ = io.Copy(stdin, sess)
		_ = stdin.Close()
	}()
	signals := make(chan ssh.Signal, 4)
	sess.Signals(signals)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if sig == ssh.SIGTERM {
					_ = cmd.Process.Signal(syscall.SIGTERM)
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	_ = sess.Exit(code)
}

// KnownHosts writes a known_hosts file holding the servers' keys and returns its path.
func KnownHosts(t testing.TB, servers ...*Server) string {
	t.Helper()
	var lines []string
	for _, s := range servers {
		lines = append(lines, knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey))
	}
	path := t.TempDir() + "/known_hosts"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ClientKey makes a key pair for a client: the public key for Login.Key and the private key
// in OpenSSH's PEM form, as a private_key parameter or a key file holds it.
func ClientKey(t testing.TB) (gossh.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, string(pem.EncodeToMemory(block))
}
