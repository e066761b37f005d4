package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

// attune runs the CLI in process, as a user would run the binary, and returns its output.
func attune(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve starts `attune serve` on the test's schema and waits until /readyz says ready.
func serve(t *testing.T, schema string, extra ...string) (addr string) {
	t.Helper()
	addr = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		args := append([]string{"serve", "--allow-root-actions", "--database-url", pgtest.WithPoolSize(pgtest.URL(), pgtest.ServerPoolSize), "--schema", schema, "--http-addr", addr,
			"--config", filepath.Join(t.TempDir(), "config.yaml"), "--secret-key-file", filepath.Join(t.TempDir(), "secret.key")}, extra...)
		done <- run(ctx, args, &logs, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s after cancel")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("serve stopped early: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendExecution(t *testing.T, store eventstore.Store, actor string) (id string, stream string) {
	t.Helper()
	id = ulid.Make().String()
	stream = execution.StreamID(id)
	md := event.Metadata{CorrelationID: id, CausationID: "request-42", Actor: actor, TraceTag: "deploy-7"}
	req, err := eventstore.NewProposed(execution.ExecutionRequested{ExecutionID: id, Action: "core.noop", RunnerType: "builtin"}, md)
	if err != nil {
		t.Fatal(err)
	}
	run, err := eventstore.NewProposed(execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Running}, md.Caused(req.ID.String()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), stream, eventstore.NoStream, req, run); err != nil {
		t.Fatalf("append: %v", err)
	}
	return id, stream
}

func TestServeAnswersHealthAndReadiness(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmpty(t) // serve migrates it
	addr := serve(t, s.Name)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %v, want 200", path, resp.StatusCode, body)
		}
	}
}

func TestHistoryShowsEventsWithCausation(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	store, err := pgstore.New(context.Background(), s.Pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, stream := appendExecution(t, store, "alice")

	out, _, err := attune(t, "history", stream, "--schema", s.Name)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	for _, want := range []string{"#1", "ExecutionRequested", "#2", "ExecutionStatusChanged", "caused by request-42", "actor alice", "trace deploy-7", `"to":"running"`} {
		if !strings.Contains(out, want) {
			t.Errorf("history output lacks %q:\n%s", want, out)
		}
	}

	jsonOut, _, err := attune(t, "history", stream, "--schema", s.Name, "--json")
	if err != nil {
		t.Fatalf("history --json: %v", err)
	}
	var envs []map[string]any
	if err := json.Unmarshal([]byte(jsonOut), &envs); err != nil {
		t.Fatalf("history --json is not JSON: %v\n%s", err, jsonOut)
	}
	if len(envs) != 2 || envs[1]["type"] != "ExecutionStatusChanged" || envs[1]["stream_version"] != float64(2) {
		t.Errorf("history --json = %v", envs)
	}

	_, _, err = attune(t, "history", "execution-nope", "--schema", s.Name)
	if err == nil || exitCode(err) != 4 || !strings.Contains(err.Error(), "execution-nope") {
		t.Errorf("history of an unknown stream: err %v (exit %d), want exit 4 naming the stream", err, exitCode(err))
	}
}

func TestAuditVerifyNamesTheFirstBrokenLink(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	store, err := pgstore.New(context.Background(), s.Pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, first := appendExecution(t, store, "alice")
	_, tampered := appendExecution(t, store, "bob")
	appendExecution(t, store, "carol")
	// Readers see an event only once every older transaction on the server has ended; other
	// tests' transactions may still be open, so wait for all six as an auditor would.
	waitVisible(t, store, 6)

	// No projector ran here: the read models are behind the log, which verify would report;
	// this test is about the hash chains.
	out, _, err := attune(t, "audit", "verify", "--schema", s.Name, "--skip-projections")
	if err != nil {
		t.Fatalf("verify of an untouched log: %v\n%s", err, out)
	}
	if !strings.Contains(out, "OK: 6 events in 3 streams") {
		t.Errorf("verify output %q, want it to count 6 events in 3 streams", out)
	}

	// An insider rewrites history: bob's execution now "completed" instead of running.
	tag, err := s.Pool.Exec(context.Background(),
		`UPDATE events SET data = replace(data::text, '"running"', '"completed"')::json WHERE stream_id = $1 AND stream_version = 2`, tampered)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v (%d rows)", err, tag.RowsAffected())
	}
	out, _, err = attune(t, "audit", "verify", "--schema", s.Name)
	if err == nil || exitCode(err) != 3 {
		t.Fatalf("verify of a tampered log: err %v (exit %d), want exit 3", err, exitCode(err))
	}
	if want := fmt.Sprintf("BROKEN: stream %s, version 2", tampered); !strings.Contains(out, want) {
		t.Errorf("verify output %q, want %q", out, want)
	}
	if strings.Contains(out, first) {
		t.Errorf("verify blamed the untouched stream %s: %q", first, out)
	}
}

func TestBadConfigurationFailsFastWithOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--database-url", "postgres://nobody@127.0.0.1:1/x"}, "connect to postgres://nobody@127.0.0.1:1/x"},
		{[]string{"migrate", "--database-url", "mysql://x"}, "database URL must be postgres://"},
		{[]string{"serve", "--amqp-url", "http://rabbit"}, "AMQP URL must be amqp://"},
		{[]string{"serve", "--http-addr", "8080"}, `HTTP address "8080"`},
		{[]string{"serve", "--db-max-conns", "1"}, "database max connections (--db-max-conns, ATTUNE_DB_MAX_CONNS) must be a whole number ≥ 2, got 1"},
	} {
		_, _, err := attune(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("attune %v: err %v, want it to contain %q", tc.args, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("attune %v: error spans several lines: %q", tc.args, err)
		}
	}
	var ee *exitError
	_, _, err := attune(t, "serve", "--log-level", "loud")
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("bad flag value: err %v, want a usage error (exit 2)", err)
	}
}

// waitVisible waits until the global log shows n events.
func waitVisible(t *testing.T, store eventstore.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		events, err := store.ReadAll(context.Background(), eventstore.Start, n+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events visible after 30s", len(events), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestASecondInProcessServerOnTheSameDatabaseIsRefused(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmpty(t)
	serve(t, s.Name)
	_, _, err := attune(t, "serve", "--allow-root-actions", "--database-url", pgtest.WithPoolSize(pgtest.URL(), 4), "--schema", s.Name,
		"--http-addr", freeAddr(t), "--config", filepath.Join(t.TempDir(), "config.yaml"),
		"--secret-key-file", filepath.Join(t.TempDir(), "secret.key"))
	if err == nil || !strings.Contains(err.Error(), "another `attune serve` with the in-process bus") {
		t.Fatalf("second in-process serve: %v, want a refusal that says to use RabbitMQ", err)
	}
}

func TestVersionSaysWhichBuildThisIs(t *testing.T) {
	t.Parallel()
	out, _, err := attune(t, "--version")
	if err != nil || !strings.HasPrefix(out, "attune version ") || strings.TrimSpace(strings.TrimPrefix(out, "attune version ")) == "" {
		t.Fatalf("attune --version: %q, %v; want \"attune version <build>\"", out, err)
	}
}

// Every command that works on the database directly says what to do on a database that was
// never migrated, instead of a SQL error about a missing table.
func TestCommandsOnAnUnmigratedDatabaseSayToMigrate(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmpty(t)
	db := []string{"--database-url", pgtest.WithPoolSize(pgtest.URL(), 2), "--schema", s.Name}
	for _, args := range [][]string{
		{"history", "execution-01J0000000000000000000000"},
		{"audit", "verify"},
		{"token", "list"},
		{"projections", "rebuild"},
	} {
		_, _, err := attune(t, append(args, db...)...)
		if err == nil || !strings.Contains(err.Error(), "run `attune migrate` first") {
			t.Errorf("attune %s on an unmigrated schema: %v, want it to say to run attune migrate first", strings.Join(args, " "), err)
		}
	}
}
