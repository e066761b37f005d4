package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/handlers/scheduler"
)

// outageServer is `attune serve` on a database of its own, which the test may crash.
type outageServer struct {
	t    *testing.T
	url  string
	api  *apiclient.Client
	logs *syncBuffer
	done chan error // receives serve's result if it returns
}

func serveOn(t *testing.T, dbURL string, extra ...string) *outageServer {
	t.Helper()
	addr := freeAddr(t)
	cliConfig := filepath.Join(t.TempDir(), "config.yaml")
	s := &outageServer{t: t, url: "http://" + addr, logs: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{"serve", "--allow-root-actions", "--database-url", pgtest.WithPoolSize(dbURL, 8), "--http-addr", addr,
		"--config", cliConfig, "--secret-key-file", filepath.Join(t.TempDir(), "secret.key"), "--log-level", "info"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.done <- run(ctx, args, s.logs, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop within 60s")
		}
		if t.Failed() {
			t.Logf("serve output:\n%s", s.logs.String())
		}
	})
	s.waitReadiness(60*time.Second, "ready", func(code int, _ map[string]string) bool { return code == http.StatusOK })
	file, err := clientconfig.Load(cliConfig)
	if err != nil || file.Token == "" {
		t.Fatalf("serve wrote no admin token to %s: %v", cliConfig, err)
	}
	if s.api, err = apiclient.New(s.url, file.Token); err != nil {
		t.Fatal(err)
	}
	return s
}

// readiness asks /readyz; code 0 when the server does not answer.
func (s *outageServer) readiness() (int, map[string]string) {
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Checks
}

// waitReadiness polls /readyz until cond holds, failing if serve exits meanwhile.
func (s *outageServer) waitReadiness(timeout time.Duration, what string, cond func(int, map[string]string) bool) (int, map[string]string) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.alive()
		code, checks := s.readiness()
		if cond(code, checks) {
			return code, checks
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for /readyz: %s; last answer %d %v", timeout, what, code, checks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive fails the test if serve has returned.
func (s *outageServer) alive() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		s.t.Fatalf("serve exited: %v", err)
	default:
	}
}

func (s *outageServer) request(n int, action, params string) []string {
	s.t.Helper()
	ids := make([]string, 0, n)
	for range n {
		x, err := s.api.Run(context.Background(), action, map[string]json.RawMessage{"seconds": json.RawMessage(params)})
		if err != nil {
			s.t.Fatalf("run %s: %v", action, err)
		}
		ids = append(ids, x.ID)
	}
	return ids
}

func (s *outageServer) waitCompleted(ids []string) {
	s.t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		x, err := s.api.Wait(ctx, id, nil)
		cancel()
		s.alive()
		if err != nil {
			s.t.Fatalf("wait for execution %s: %v", id, err)
		}
		if x.Status != "completed" {
			s.t.Errorf("execution %s ended %s (%s), want completed", id, x.Status, x.Reason)
		}
	}
}

func TestServeWaitsOutADatabaseOutage(t *testing.T) {
	t.Parallel()
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			testDatabaseOutage(t, transport)
		})
	}
}

func testDatabaseOutage(t *testing.T, transport string) {
	c := pgtest.StartCluster(t)
	var extra []string
	if transport == "rabbitmq" {
		extra = []string{"--amqp-url", bustest.StartNode(t).URL()} // its own broker: nothing left behind
	}
	s := serveOn(t, c.URL(), extra...)

	// Acknowledged before the crash; some run across it (0.5 s each).
	before := s.request(20, "core.sleep", "0.5")
	c.Kill()
	killed := time.Now()
	_, checks := s.waitReadiness(30*time.Second, "503 naming the database", func(code int, checks map[string]string) bool {
		return code == http.StatusServiceUnavailable && checks["database"] != "" && checks["database"] != "ok"
	})
	t.Logf("readiness during the outage: %v", checks)
	// A request during the outage is refused as unavailable (retry later), not as a bug.
	if _, err := s.api.Run(context.Background(), "core.noop", nil); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("run during the outage: %v, want an 'unavailable' answer", err)
	}
	// The outage lasts longer than a worker's heartbeat TTL: no worker could beat, so none
	// may be taken for lost when the database returns. /readyz says so all along.
	for time.Since(killed) < scheduler.DefaultTTL+2*time.Second {
		if code, checks := s.readiness(); code != http.StatusServiceUnavailable || checks["database"] == "ok" {
			t.Fatalf("/readyz during the outage = %d %v, want 503 naming the database", code, checks)
		}
		s.alive()
		time.Sleep(100 * time.Millisecond)
	}
	c.Start()

	s.waitCompleted(before)
	// The relay leads again and the pipeline takes new work.
	s.waitCompleted(s.request(5, "core.sleep", "0.01"))
	s.waitReadiness(60*time.Second, "200 again after the outage", func(code int, _ map[string]string) bool { return code == http.StatusOK })
	s.alive()
	logs := s.logs.String()
	if strings.Contains(logs, "event poisoned") {
		t.Errorf("messages were poisoned by the outage:\n%s", grepLines(logs, "event poisoned"))
	}
	for _, role := range []string{"relay: leadership", "reaper: leadership"} {
		if n := strings.Count(logs, role+": unavailable"); n > 1 {
			t.Errorf("the outage of %q was logged %d times, want once", role, n)
		}
	}
}

func TestReadinessShowsTheStallOfALongTransaction(t *testing.T) {
	t.Parallel()
	c := pgtest.StartCluster(t) // a long transaction stalls every reader on its server
	s := serveOn(t, c.URL(), "--ready-max-lag", "1s")

	conn, err := pgx.Connect(context.Background(), c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	// Holding a transaction id holds pg_snapshot_xmin back: nothing appended after it is
	// visible to the relay or the projectors until it ends.
	if _, err := tx.Exec(context.Background(), "SELECT pg_current_xact_id()"); err != nil {
		t.Fatal(err)
	}
	ids := s.request(1, "core.sleep", "0.01")

	_, checks := s.waitReadiness(30*time.Second, "503 naming the relay", func(code int, checks map[string]string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(checks["relay"], "behind the log")
	})
	if !strings.Contains(checks["projection:executions"], "behind the log") || checks["database"] != "ok" {
		t.Errorf("readiness during the stall = %v, want the projections behind too and the database ok", checks)
	}

	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.waitCompleted(ids)
	s.waitReadiness(30*time.Second, "200 once the transaction ended", func(code int, _ map[string]string) bool { return code == http.StatusOK })
}

func TestServeOnRabbitMQWaitsOutABrokerRestart(t *testing.T) {
	t.Parallel()
	node := bustest.StartNode(t)
	c := pgtest.StartCluster(t)
	s := serveOn(t, c.URL(), "--amqp-url", node.URL())

	before := s.request(10, "core.sleep", "0.5")
	node.Kill()
	killed := time.Now()
	s.waitReadiness(30*time.Second, "503 naming the bus", func(code int, checks map[string]string) bool {
		return code == http.StatusServiceUnavailable && checks["bus"] != "" && checks["bus"] != "ok"
	})
	// Appended while the broker is away: the relay keeps them until it can publish.
	during := s.request(5, "core.sleep", "0.01")
	for time.Since(killed) < 3*time.Second {
		s.alive()
		time.Sleep(100 * time.Millisecond)
	}
	node.Start()

	s.waitCompleted(before)
	s.waitCompleted(during)
	s.waitCompleted(s.request(5, "core.sleep", "0.01"))
	s.waitReadiness(60*time.Second, "200 again after the broker restart", func(code int, _ map[string]string) bool { return code == http.StatusOK })
	s.alive()
	if logs := s.logs.String(); strings.Contains(logs, "event poisoned") {
		t.Errorf("messages were poisoned by the broker restart:\n%s", grepLines(logs, "event poisoned"))
	}
}
