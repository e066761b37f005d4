package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// TestMain lets a test start this test binary as the attune binary (ATTUNE_E2E_MAIN=1), so a
// worker can run as a real process and be killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("ATTUNE_E2E_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// transports are the two bus modes every end-to-end scenario runs in.
var transports = []string{"inprocess", "rabbitmq"}

// system is one running Attune (`attune serve`) on its own schema, bus prefix and port,
// driven through its HTTP API the way a user drives it.
type system struct {
	t         *testing.T
	schema    *pgtest.Schema
	url       string
	api       *apiclient.Client
	log       eventstore.Store // read-only access for the checks an auditor would make
	amqpURL   string
	busPrefix string
	keyFile   string
	dbURL     string
	addr      string
	cliConfig string
	logs      *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSystem runs `attune serve` with the packs given and waits until it is ready.
func startSystem(t *testing.T, transport string, packs []string, extra ...string) *system {
	t.Helper()
	sys := prepareSystem(t, transport)
	sys.runInBackground(sys.serveArgs(packs, extra...))
	sys.connect()
	return sys
}

// prepareSystem makes a system's schema, key, address and CLI config without starting it.
func prepareSystem(t *testing.T, transport string) *system {
	t.Helper()
	sys := &system{t: t, schema: pgtest.NewEmpty(t), logs: &syncBuffer{}}
	sys.keyFile = filepath.Join(t.TempDir(), "secret.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(sys.keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	sys.addr = freeAddr(t)
	sys.url = "http://" + sys.addr
	sys.dbURL = pgtest.WithPoolSize(pgtest.URL(), pgtest.ServerPoolSize)
	sys.cliConfig = filepath.Join(t.TempDir(), "config.yaml")
	if transport == "rabbitmq" {
		sys.amqpURL = bustest.URL()
		sys.busPrefix = "e2e-" + strings.ToLower(ulid.Make().String()) + "."
		bustest.CleanupPrefix(t, sys.busPrefix) // registered first: runs after the servers stop
	}
	return sys
}

// serveArgs are the arguments of `attune serve` for this system.
func (s *system) serveArgs(packs []string, extra ...string) []string {
	args := []string{"serve", "--allow-root-actions", "--config", s.cliConfig, "--database-url", s.dbURL, "--schema", s.schema.Name,
		"--http-addr", s.addr, "--secret-key-file", s.keyFile, "--log-level", "warn"}
	if s.amqpURL != "" {
		args = append(args, "--amqp-url", s.amqpURL, "--bus-prefix", s.busPrefix, "--bus-queue-expiry", bustest.QueueExpiry.String())
	}
	for _, p := range packs {
		args = append(args, "--pack", p)
	}
	return append(args, extra...)
}

// connect waits until the server is ready, then takes the admin token its first start wrote
// where the CLI looks for it, as a user would.
func (s *system) connect() {
	t := s.t
	t.Helper()
	s.waitReady()
	file, err := clientconfig.Load(s.cliConfig)
	if err != nil || file.Token == "" {
		t.Fatalf("serve wrote no admin token to %s: %v", s.cliConfig, err)
	}
	api, err := apiclient.New(s.url, file.Token)
	if err != nil {
		t.Fatal(err)
	}
	s.api = api
	store, err := pgstore.New(context.Background(), s.schema.Pool, pgstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s.log = store
}

// runInBackground runs the CLI with args until the test ends.
func (s *system) runInBackground(args []string) {
	t := s.t
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, s.logs, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("attune %s returned %v", args[0], err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("attune %s did not stop within 60s", args[0])
		}
		if t.Failed() {
			t.Logf("attune %s output:\n%s", args[0], s.logs.String())
		}
	})
}

// waitReady allows a slow start: on a loaded CI machine (load 20 on 2 cores was seen) a
// server took over 30 s to migrate and start its roles.
func (s *system) waitReady() {
	s.t.Helper()
	s.eventually(90*time.Second, "the server answers /readyz with 200", func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// eventually polls cond until it holds, failing the test with what it waited for.
func (s *system) eventually(timeout time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for: %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// webhook posts a payload to a webhook trigger (or url) with header's name/value pairs and
// returns the event id.
func (s *system) webhook(trigger string, payload any, header ...string) string {
	s.t.Helper()
	b, _ := json.Marshal(payload)
	req, err := http.NewRequest(http.MethodPost, s.url+"/api/v1/webhooks/"+trigger, bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		EventID string `json:"event_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusAccepted || out.EventID == "" {
		s.t.Fatalf("POST webhook %s = %d", trigger, resp.StatusCode)
	}
	return out.EventID
}

// executions lists every execution matching the filter.
func (s *system) executions(q url.Values) []httpapi.Execution {
	s.t.Helper()
	var all []httpapi.Execution
	q.Set("limit", "1000")
	for {
		page, err := s.api.Executions(context.Background(), q)
		if err != nil {
			s.t.Fatalf("list executions %v: %v", q, err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// waitTerminal waits until the execution ended and returns it.
func (s *system) waitTerminal(id string) httpapi.Execution {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	x, err := s.api.Wait(ctx, id, nil)
	if err != nil {
		s.t.Fatalf("wait for execution %s: %v", id, err)
	}
	return x
}

// logEvents returns every event of the log, for the checks an auditor makes.
func (s *system) logEvents() []eventstore.Recorded {
	s.t.Helper()
	var out []eventstore.Recorded
	after := eventstore.Start
	for {
		batch, err := s.log.ReadAll(context.Background(), after, 1000)
		if err != nil {
			s.t.Fatal(err)
		}
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Position
	}
}

// countTypes counts the log's events of each type that satisfy keep.
func countTypes(events []eventstore.Recorded, keep func(eventstore.Recorded) bool) map[string]int {
	n := map[string]int{}
	for _, e := range events {
		if keep == nil || keep(e) {
			n[e.Type]++
		}
	}
	return n
}

// writePack writes a pack directory from a map of relative paths to contents.
func writePack(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func field(e eventstore.Recorded, name string) string {
	var m map[string]any
	_ = json.Unmarshal(e.Data, &m)
	return fmt.Sprint(m[name])
}
