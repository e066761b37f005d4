package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// serveArgsOn are the arguments of `attune serve` on a fresh schema of the shared database.
func serveArgsOn(t *testing.T, addr string, extra ...string) []string {
	s := pgtest.NewEmpty(t)
	return append([]string{"serve", "--allow-root-actions", "--database-url", pgtest.WithPoolSize(pgtest.URL(), 4), "--schema", s.Name,
		"--http-addr", addr, "--config", filepath.Join(t.TempDir(), "config.yaml"),
		"--secret-key-file", filepath.Join(t.TempDir(), "secret.key")}, extra...)
}

// runWithin runs the CLI and fails the test if it has not returned by the deadline: a
// start-up failure must end the command, not leave it hanging.
func runWithin(t *testing.T, d time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &logs, &logs) }()
	select {
	case err := <-done:
		if ctx.Err() != nil {
			t.Fatalf("attune %s returned only when its context ended (%v): it hung on a start-up failure\n%s", args[0], err, logs.String())
		}
		return logs.String(), err
	case <-time.After(d + 30*time.Second):
		t.Fatalf("attune %s did not return even after its context ended\n%s", args[0], logs.String())
		return "", nil
	}
}

func TestServeWithAnInvalidPackFailsAtOnceNamingFileAndLine(t *testing.T) {
	t.Parallel()
	pack := writePack(t, map[string]string{
		"pack.yaml":         "ref: broken\nversion: 1.0.0\n",
		"actions/echo.yaml": "name: echo\nrunner_type: shell\nentry_point: echo.sh\nparameters:\n  message: {type: strnig}\n",
		"actions/echo.sh":   "#!/bin/sh\necho hi\n",
	})
	_, err := runWithin(t, 60*time.Second, serveArgsOn(t, freeAddr(t), "--pack", pack)...)
	if err == nil {
		t.Fatal("serve with an invalid pack succeeded")
	}
	if !regexp.MustCompile(`echo\.yaml:\d+`).MatchString(err.Error()) {
		t.Errorf("error %q does not name the file and line of the problem", err)
	}
}

func TestServeOnAPortInUseFailsAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = runWithin(t, 60*time.Second, serveArgsOn(t, l.Addr().String())...)
	if err == nil || !strings.Contains(err.Error(), "listen on "+l.Addr().String()) {
		t.Fatalf("serve on a port in use: %v, want an error naming the address", err)
	}
}

func TestServeWithABadReadyMaxLagFailsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := runWithin(t, 30*time.Second, "serve", "--ready-max-lag", "soon")
	if err == nil || !strings.Contains(err.Error(), "ready max lag \"soon\"") {
		t.Fatalf("serve --ready-max-lag soon: %v, want an error naming the flag", err)
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.code == 0 {
		t.Errorf("exit code 0 for a bad flag")
	}
}

// A root server would run every action as root: it refuses to start until told which user
// actions run as, or that this machine is a throw-away one.
func TestServeAsRootWithoutARunAsUserRefusesToStart(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the refusal is for root servers; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	args := slices.DeleteFunc(serveArgsOn(t, freeAddr(t)), func(a string) bool { return a == "--allow-root-actions" })
	_, err := runWithin(t, 60*time.Second, args...)
	if err == nil || !strings.Contains(err.Error(), "--run-as") || !strings.Contains(err.Error(), "--allow-root-actions") {
		t.Fatalf("serve as root without --run-as: %v, want a refusal naming --run-as and --allow-root-actions", err)
	}
}
