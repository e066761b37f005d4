package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// deployment is one Attune installation under test: a database schema, a pack whose action
// leaves a side effect, and the serve and worker processes the scenario starts on it.
type deployment struct {
	t       *testing.T
	bin     string
	dir     string
	dbURL   string // the server, with a small pool for the processes
	adminDB string // the server, for the suite's own queries
	schema  string
	amqpURL string
	prefix  string
	keyFile string
	pack    string
	marks   string // the side-effect file: one line "<token> <execution id>" per run
	procs   []*proc
}

// onSharedDB makes a deployment on a schema of its own on the shared PostgreSQL, for
// scenarios that do not kill the database.
func onSharedDB(t *testing.T, bin string) *deployment {
	s := pgtest.NewEmpty(t)
	return newDeployment(t, bin, pgtest.URL(), s.Name)
}

// onPrivateCluster makes a deployment on a PostgreSQL cluster of its own, which the scenario
// may crash and restart.
func onPrivateCluster(t *testing.T, bin string) (*deployment, *pgtest.Cluster) {
	c := pgtest.StartCluster(t)
	conn, err := pgx.Connect(context.Background(), c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA chaos"); err != nil {
		t.Fatal(err)
	}
	return newDeployment(t, bin, c.URL(), "chaos"), c
}

func newDeployment(t *testing.T, bin, server, schema string) *deployment {
	dir := t.TempDir()
	d := &deployment{t: t, bin: bin, dir: dir, dbURL: pgtest.WithPoolSize(server, 8), adminDB: server,
		schema: schema, keyFile: filepath.Join(dir, "secret.key"), marks: filepath.Join(dir, "marks.log")}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(d.keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.pack = writePack(t, filepath.Join(dir, "pack"), d.marks)
	return d
}

// writePack writes the chaos pack: chaos.mark appends "<token> <execution id>" to the marks
// file the moment it starts (one short O_APPEND write, atomic between processes), then works
// for 0.2 s so that kills find executions in flight; chaos.fan is a with-items workflow over
// chaos.mark.
func writePack(t *testing.T, dir, marks string) string {
	files := map[string]string{
		"pack.yaml": "ref: chaos\nversion: 1.0.0\n",
		"actions/mark.yaml": "name: mark\nrunner_type: shell\nentry_point: mark.sh\ntimeout: 60\n" +
			"parameters:\n  token: {type: string, required: true}\n",
		"actions/mark.sh": "#!/bin/sh\n" +
			"token=$(sed -n 's/.*\"token\" *: *\"\\([^\"]*\\)\".*/\\1/p')\n" +
			"printf '%s %s\\n' \"$token\" \"$ATTUNE_EXECUTION_ID\" >> '" + marks + "'\n" +
			"sleep 0.2\n" +
			"echo '{\"marked\": true}'\n",
		"actions/fan.yaml": "name: fan\nrunner_type: workflow\nentry_point: workflows/fan.yaml\n" +
			"parameters:\n  items: {type: array, required: true}\n",
		"actions/workflows/fan.yaml": `version: 1
tasks:
  each:
    action: chaos.mark
    with: {items: "{{ parameters.items }}", concurrency: 4}
    input: {token: "{{ item }}"}
output:
  count: "{{ length(parameters.items) }}"
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serve prepares an `attune serve` on the deployment (not started). Every serve process of a
// deployment shares its schema, key and bus prefix, and has its own address and home.
func (d *deployment) serve(name string, extra ...string) *proc {
	addr := freeAddr(d.t)
	args := []string{"serve", "--allow-root-actions", "--no-auth", "--database-url", d.dbURL, "--schema", d.schema,
		"--http-addr", addr, "--secret-key-file", d.keyFile, "--pack", d.pack,
		"--worker-name", name, "--max-concurrency", "8", "--log-level", "warn"}
	if d.amqpURL != "" {
		args = append(args, "--amqp-url", d.amqpURL, "--bus-prefix", d.prefix)
	}
	p := newProc(d.t, d.dir, name, d.bin, append(args, extra...))
	p.url = "http://" + addr
	d.procs = append(d.procs, p)
	return p
}

// worker prepares an `attune worker` on the deployment's broker (not started).
func (d *deployment) worker(name string) *proc {
	args := []string{"worker", "--allow-root-actions", "--database-url", d.dbURL, "--schema", d.schema,
		"--http-addr", freeAddr(d.t), "--secret-key-file", d.keyFile, "--amqp-url", d.amqpURL,
		"--bus-prefix", d.prefix, "--worker-name", name, "--max-concurrency", "8", "--log-level", "warn"}
	p := newProc(d.t, d.dir, name, d.bin, args)
	d.procs = append(d.procs, p)
	return p
}

// acks is what the client pool was told: the execution id acknowledged for each token, and
// the last error of each token the clients gave up on.
type acks struct {
	mu      sync.Mutex
	ids     map[string]string
	gaveUp  map[string]string
	retries atomic.Int64
	count   atomic.Int64
	lastAck atomic.Int64 // unix nanoseconds of the latest acknowledgement
}

func newAcks() *acks { return &acks{ids: map[string]string{}, gaveUp: map[string]string{}} }

// request is one API request the client pool sends until it is acknowledged.
type request struct {
	token  string
	action string
	params map[string]any
}

// markRequests are n requests of chaos.mark, each with its own token.
func markRequests(prefix string, n int) []request {
	out := make([]request, n)
	for i := range out {
		tok := fmt.Sprintf("%s%d", prefix, i+1)
		out[i] = request{token: tok, action: "chaos.mark", params: map[string]any{"token": tok}}
	}
	return out
}

// send runs a pool of clients over the requests. Each client retries a request on a
// connection error or a 5xx, with its token as Idempotency-Key (harmless where the server
// ignores it); targets gives the servers to try (round robin). A request is given up once
// neither it nor any other got an answer for patience: the service is down for good.
func send(ctx context.Context, reqs []request, clients int, patience time.Duration, targets func() []string, a *acks) {
	poolStart := time.Now().UnixNano()
	work := make(chan request)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for r := range work {
				sendOne(ctx, r, c, poolStart, patience, targets, a)
			}
		}(c)
	}
	for _, r := range reqs {
		select {
		case work <- r:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

func sendOne(ctx context.Context, r request, turn int, poolStart int64, patience time.Duration, targets func() []string, a *acks) {
	body, _ := json.Marshal(map[string]any{"action": r.action, "parameters": r.params})
	delay := 100 * time.Millisecond
	var last string
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			a.retries.Add(1)
		}
		if urls := targets(); len(urls) > 0 {
			id, status, err := post(ctx, urls[(turn+attempt)%len(urls)], r.token, body)
			switch {
			case err == nil && status/100 == 2 && id != "":
				a.mu.Lock()
				a.ids[r.token] = id
				a.mu.Unlock()
				a.count.Add(1)
				a.lastAck.Store(time.Now().UnixNano())
				return
			case err == nil && status/100 == 4:
				a.mu.Lock()
				a.gaveUp[r.token] = fmt.Sprintf("HTTP %d", status)
				a.mu.Unlock()
				return
			case err != nil:
				last = err.Error()
			default:
				last = fmt.Sprintf("HTTP %d", status)
			}
		} else {
			last = "no server running"
		}
		if time.Since(time.Unix(0, max(poolStart, a.lastAck.Load()))) > patience || ctx.Err() != nil {
			a.mu.Lock()
			a.gaveUp[r.token] = last
			a.mu.Unlock()
			return
		}
		time.Sleep(delay) // a client's back-off between retries
		delay = min(2*delay, time.Second)
	}
}

func post(ctx context.Context, base, key string, body []byte) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/executions", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var x struct {
		ID string `json:"id"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(b, &x)
	return x.ID, resp.StatusCode, nil
}

// live returns the URLs of the deployment's serve processes that run now.
func live(servers ...*proc) func() []string {
	return func() []string {
		var out []string
		for _, s := range servers {
			if s.running() {
				out = append(out, s.url)
			}
		}
		return out
	}
}

// marks reads the side-effect file: the execution ids each token ran under, one per run.
func (d *deployment) readMarks() map[string][]string {
	out := map[string][]string{}
	f, err := os.Open(d.marks)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		id := ""
		if len(fields) > 1 {
			id = fields[1]
		}
		out[fields[0]] = append(out[fields[0]], id)
	}
	return out
}

// lines counts the runs recorded so far.
func (d *deployment) lines() int {
	n := 0
	for _, ids := range d.readMarks() {
		n += len(ids)
	}
	return n
}

// waitFor polls cond (every 100 ms) until it holds or the timeout passes; it reports which.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// row is one execution as the read model (what the API serves) has it.
type row struct {
	id, status, reason, token, parent, action string
	started                                   bool
}

var terminal = map[string]bool{"completed": true, "failed": true, "timeout": true, "cancelled": true, "abandoned": true}

// executions reads every execution of the read model (nil when the database is unreachable).
func (d *deployment) executions() ([]row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.adminDB)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT id, status, coalesce(reason, ''), coalesce(parameters->>'token', ''),
		coalesce(parent, ''), action, started_at IS NOT NULL FROM `+pgx.Identifier{d.schema, "executions"}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("read executions: %w", err)
	}
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.status, &r.reason, &r.token, &r.parent, &r.action, &r.started); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// settle waits until every execution of the read model is terminal and every acknowledged
// id is in it, or the deadline passes, or no serve process runs any more (then nothing can
// change). It returns the last rows it read.
func (d *deployment) settle(deadline time.Duration, acked map[string]string, servers ...*proc) []row {
	var last []row
	waitFor(deadline, func() bool {
		rows, err := d.executions()
		if err != nil {
			return false
		}
		last = rows
		if len(live(servers...)()) == 0 {
			return true
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if !terminal[r.status] {
				return false
			}
			seen[r.id] = true
		}
		for _, id := range acked {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	if last == nil {
		last, _ = d.executions()
	}
	return last
}

// waitWorker waits until a worker of that name has beaten since the time given (a worker
// process has no /readyz: its heartbeat row says it is up).
func (d *deployment) waitWorker(p *proc, since time.Time, timeout time.Duration) {
	d.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.adminDB)
	if err != nil {
		d.t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := "SELECT EXISTS (SELECT 1 FROM " + pgx.Identifier{d.schema, "workers_live"}.Sanitize() + " WHERE name = $1 AND last_seen > $2)"
	if !waitFor(timeout, func() bool {
		var ok bool
		return p.running() && conn.QueryRow(ctx, q, p.name, since).Scan(&ok) == nil && ok
	}) {
		d.t.Fatalf("worker %s not up after %s:\n%s", p.name, timeout, p.tail())
	}
}

// quiet reports whether the clients are done (sent is closed) and every execution they got
// acknowledged has ended: nothing is left in flight for a fault to hit.
func (d *deployment) quiet(a *acks, sent <-chan struct{}) bool {
	if !closed(sent) {
		return false
	}
	rows, err := d.executions()
	if err != nil {
		return false
	}
	for _, r := range rows {
		if !terminal[r.status] {
			return false
		}
	}
	return len(rows) >= len(a.acknowledged())
}
