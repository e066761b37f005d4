// Package sshexec connects to hosts over SSH and runs commands on them, for StackStorm's
// remote runners (adapters/runtime/st2). It verifies every host key against a known_hosts
// file and never trusts a host it has not been told of: StackStorm's runner trusts any key by
// default, which lets whoever answers on the host's address read the commands, the sudo
// password and the output.
//
// Credentials (password, key, passphrase) travel only inside the SSH protocol: never in argv,
// the environment or a log line.
package sshexec

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultPort is SSH's port, used when neither the host nor the port parameter gives one.
const DefaultPort = 22

// DefaultConnectTimeout bounds the TCP connection and the SSH handshake (StackStorm's
// ssh_connect_timeout is 60s; a host that does not answer within this is as good as down).
const DefaultConnectTimeout = 30 * time.Second

// signalGrace is how long a cancelled command has, after SIGTERM, to end before its session
// is closed under it.
const signalGrace = 5 * time.Second

// Config is the worker's side of every connection.
type Config struct {
	// KnownHosts is the known_hosts file host keys are checked against; a host not in it is
	// refused. Default ~/.ssh/known_hosts.
	KnownHosts string
	// ConnectTimeout bounds the TCP connection and the handshake; default
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Auth is who logs in and how. PrivateKey is the key's PEM text or the path of a key file on
// the worker; when both a password and a key are given, both are offered.
type Auth struct {
	User       string
	Password   string
	PrivateKey string
	Passphrase string
}

// KnownHostsFile is cfg's known_hosts file, the default resolved.
func (cfg Config) KnownHostsFile() string {
	if cfg.KnownHosts != "" {
		return cfg.KnownHosts
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join("~", ".ssh", "known_hosts")
	}
	return filepath.Join(home, ".ssh", "known_hosts")
}

// SplitHostPort reads one entry of a hosts list as StackStorm's ip_utils.split_host_port
// does: host, host:port, [v6] or [v6]:port, or a bare IPv6 address; defPort when none.
func SplitHostPort(entry string, defPort int) (string, int, error) {
	entry = strings.TrimSpace(entry)
	port := defPort
	host := entry
	switch {
	case strings.HasPrefix(entry, "["):
		end := strings.Index(entry, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("host %q: unclosed [", entry)
		}
		host = entry[1:end]
		if rest := entry[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", 0, fmt.Errorf("host %q: want [address]:port", entry)
			}
			n, err := strconv.Atoi(p)
			if err != nil {
				return "", 0, fmt.Errorf("host %q: port %q is not a number", entry, p)
			}
			port = n
		}
	case strings.Count(entry, ":") == 1:
		h, p, _ := strings.Cut(entry, ":")
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", 0, fmt.Errorf("host %q: port %q is not a number", entry, p)
		}
		host, port = h, n
	}
	if host == "" {
		return "", 0, fmt.Errorf("host %q: no host name", entry)
	}
	if port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("host %q: port %d is out of range", entry, port)
	}
	return host, port, nil
}

// Client is a connection to one host, through a bastion when one was named.
type Client struct {
	client  *ssh.Client
	bastion *ssh.Client
}

// Dial connects to addr (host:port) and logs in, through bastion (host or host:port, the
// same credentials and host key checks) when it is not empty.
func Dial(ctx context.Context, cfg Config, auth Auth, addr, bastion string) (*Client, error) {
	conf, err := clientConfig(cfg, auth)
	if err != nil {
		return nil, err
	}
	timeout := cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout)
	if bastion == "" {
		conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, err)
		}
		c, err := handshake(ctx, conn, addr, conf, timeout)
		if err != nil {
			return nil, err
		}
		return &Client{client: c}, nil
	}
	bhost, bport, err := SplitHostPort(bastion, DefaultPort)
	if err != nil {
		return nil, fmt.Errorf("bastion_host: %w", err)
	}
	baddr := net.JoinHostPort(bhost, strconv.Itoa(bport))
	bconn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", baddr)
	if err != nil {
		return nil, fmt.Errorf("connect to bastion %s: %w", baddr, err)
	}
	b, err := handshake(ctx, bconn, baddr, conf, timeout)
	if err != nil {
		return nil, fmt.Errorf("bastion: %w", err)
	}
	conn, err := b.DialContext(ctx, "tcp", addr)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("connect to %s through bastion %s: %w", addr, baddr, err)
	}
	c, err := handshake(ctx, conn, addr, conf, timeout)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return &Client{client: c, bastion: b}, nil
}

// handshake runs the SSH handshake on conn, bounded by timeout and ctx.
func handshake(ctx context.Context, conn net.Conn, addr string, conf *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	// ssh.NewClientConn takes no context: a deadline on the connection bounds it, and ctx's
	// end closes it.
	_ = conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	hostConf := *conf
	hostConf.HostKeyAlgorithms = knownAlgorithms(conf.HostKeyCallback, addr, conn.RemoteAddr())
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &hostConf)
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, context.Cause(ctx))
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// knownAlgorithms asks for the host key algorithms of the keys known_hosts holds for addr,
// so that a host with several keys shows the one known_hosts has rather than failing on
// another; nil (Go's defaults) when it holds none.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string, remote net.Addr) []string {
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(probeKey))
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, remote, probe), &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey is an ed25519 public key no host has (32 zero bytes), asked about only to learn
// which keys known_hosts holds for a host.
var probeKey = make([]byte, 32)

// clientConfig is the login and the host key check for one connection.
func clientConfig(cfg Config, auth Auth) (*ssh.ClientConfig, error) {
	if auth.User == "" {
		return nil, errors.New("no user to log in as: give the username parameter or start the worker with --ssh-user")
	}
	var methods []ssh.AuthMethod
	if auth.PrivateKey != "" {
		signer, err := signerOf(auth.PrivateKey, auth.Passphrase)
		if err != nil {
			return nil, err
		}
		methods = append(methods, ssh.PublicKeys(signer))
	}
	if auth.Password != "" {
		password := auth.Password
		methods = append(methods, ssh.Password(password),
			// Servers that turn the password method off still ask for it this way.
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 {
		return nil, errors.New("no credentials: give the password or private_key parameter, or start the worker with --ssh-key-file")
	}
	hostKeys, err := hostKeyCallback(cfg.KnownHostsFile())
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{User: auth.User, Auth: methods, HostKeyCallback: hostKeys,
		Timeout: cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout)}, nil
}

// signerOf reads a private key: its PEM text, or the path of a file on the worker holding it
// (StackStorm tells them apart by the "PRIVATE KEY-----" of the PEM header).
func signerOf(key, passphrase string) (ssh.Signer, error) {
	data := []byte(key)
	what := "private_key"
	if !strings.Contains(strings.ToUpper(key), "PRIVATE KEY-----") {
		b, err := os.ReadFile(key)
		if err != nil {
			return nil, fmt.Errorf("read the private key file: %w", err)
		}
		data, what = b, "private key file "+key
	}
	var signer ssh.Signer
	var err error
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(data, []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(data)
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("%s is encrypted: give its passphrase", what)
	}
	if err != nil {
		// The parser's message never quotes the key.
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return signer, nil
}

// hostKeyCallback checks host keys against file and says, for a key it refuses, why and
// how to fix it.
func hostKeyCallback(file string) (ssh.HostKeyCallback, error) {
	check, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("known hosts file %s: %w: attune checks every host's key against it (start the worker with --ssh-known-hosts FILE to name another)", file, err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			host, port, _ := net.SplitHostPort(hostname)
			scan := "ssh-keyscan " + host
			if port != "22" {
				scan = "ssh-keyscan -p " + port + " " + host
			}
			return fmt.Errorf("host %s is not in the known hosts file %s (its %s key is %s): attune runs nothing on a host whose key it has not been told of; "+
				"check the fingerprint with the host's administrator, then add it (%s >> %s) or start the worker with --ssh-known-hosts naming a file that has it",
				hostname, file, key.Type(), ssh.FingerprintSHA256(key), scan, file)
		case errors.As(err, &ke):
			return fmt.Errorf("host %s presented a %s key %s that does not match the one in %s:%d: someone may be intercepting the connection, or the host was reinstalled; "+
				"if it was, remove the old key (ssh-keygen -R %s -f %s) and add the new one",
				hostname, key.Type(), ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line, knownhosts.Normalize(hostname), file)
		case errors.As(err, &revoked):
			return fmt.Errorf("host %s presented a key revoked in %s:%d", hostname, revoked.Revoked.Filename, revoked.Revoked.Line)
		}
		return fmt.Errorf("check the host key of %s: %w", hostname, err)
	}, nil
}

// Close closes the connection (and the bastion's).
func (c *Client) Close() error {
	err := c.client.Close()
	if c.bastion != nil {
		err = errors.Join(err, c.bastion.Close())
	}
	return err
}

// Run runs command in a new session with stdin on its standard input, its output to stdout
// and stderr, and returns its exit status. When ctx ends first, the command is sent SIGTERM
// (delivered by servers that honour SSH's signal request, as OpenSSH's sshd does), given a
// few seconds to end, and its session closed; Run then returns ctx's cause. A command killed
// by a signal returns 128 plus the signal's number, as a shell reports it.
func (c *Client) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	s, err := c.client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("open a session: %w", err)
	}
	defer func() { _ = s.Close() }()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	if err := s.Start(command); err != nil {
		return -1, fmt.Errorf("start the command: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGTERM)
		t := time.NewTimer(signalGrace)
		select {
		case <-done:
		case <-t.C:
			_ = s.Close()
			<-done // the output is all written before the caller reads it
		}
		t.Stop()
		return -1, context.Cause(ctx)
	}
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	}
	return -1, fmt.Errorf("the command's session ended without an exit status: %w", err)
}
