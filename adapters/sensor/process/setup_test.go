package process_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

var triggers = map[string]pack.Trigger{
	"examples.ping": {Ref: "examples.ping", Type: pack.TriggerSensor, PayloadSchema: pack.Params{
		"msg": {Type: pack.ParamString, Required: true},
		"n":   {Type: pack.ParamInteger},
	}},
	"examples.pids":       {Ref: "examples.pids", Type: pack.TriggerSensor},
	"core.intervaltimer":  {Ref: "core.intervaltimer", Type: pack.TriggerTimer},
	"examples.unregister": {},
}

type bundle struct {
	sup   *process.Supervisor
	store eventstore.Store
	logs  *logs
	dir   string
}

func setup(t *testing.T, opts ...func(*process.Config)) bundle {
	t.Helper()
	store := guarded(t, memstore.New(memstore.Config{}))
	l := &logs{}
	cfg := process.Config{
		Store: store,
		Triggers: process.TriggerLookupFunc(func(_ context.Context, ref string) (pack.Trigger, bool, error) {
			tr, ok := triggers[ref]
			return tr, ok && tr.Ref != "", nil
		}),
		Logger:     slog.New(l),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond,
		StopGrace:  300 * time.Millisecond,
		MaxLine:    4096,
	}
	for _, o := range opts {
		o(&cfg)
	}
	sup := process.New(cfg)
	return bundle{sup: sup, store: store, logs: l, dir: t.TempDir()}
}

// run runs the supervisor until the returned stop is called (or the test ends).
func (b bundle) run(t *testing.T, sensors ...process.Sensor) (stop func()) {
	t.Helper()
	if err := b.sup.Set(sensors); err != nil {
		t.Fatalf("Set: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.sup.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// sensorScript writes a script and returns the sensor that runs it.
func (b bundle) sensorScript(t *testing.T, ref string, runner pack.RunnerType, script string, triggers ...string) process.Sensor {
	t.Helper()
	name := strings.ReplaceAll(ref, ".", "_")
	path := filepath.Join(b.dir, name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return process.Sensor{
		Sensor: pack.Sensor{Ref: ref, Enabled: true, RunnerType: runner, EntryPoint: name, Triggers: triggers, PollIntervalSeconds: 7},
		Script: path,
		Config: json.RawMessage(`{"greeting": "hello-from-config"}`),
	}
}

type fired struct {
	trigger.EventFired
	rec eventstore.Recorded
}

func firedEvents(t *testing.T, s eventstore.Store) []fired {
	t.Helper()
	recs, err := s.ReadAll(context.Background(), eventstore.Start, 10_000)
	if err != nil {
		t.Fatalf("read the log: %v", err)
	}
	out := make([]fired, 0, len(recs))
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			t.Fatalf("decode %s: %v", r.ID, err)
		}
		out = append(out, fired{EventFired: *e.(*trigger.EventFired), rec: r})
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b bundle) status(ref string) process.Status {
	for _, st := range b.sup.Status() {
		if st.Ref == ref {
			return st
		}
	}
	return process.Status{}
}

// alive reports whether pid is a live process (a zombie is dead: it only waits to be reaped,
// and in a container nobody may ever reap an orphan).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces, so the state follows the last ')'.
	s := string(stat)
	rest := s[strings.LastIndexByte(s, ')')+1:]
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// logs records what the supervisor logs.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs(as []slog.Attr) slog.Handler    { return logsWith{l, as} }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(ctx context.Context, r slog.Record) error {
	return logsWith{logs: l}.Handle(ctx, r)
}

type logsWith struct {
	*logs
	attrs []slog.Attr
}

func (l logsWith) WithAttrs(as []slog.Attr) slog.Handler {
	return logsWith{l.logs, append(append([]slog.Attr(nil), l.attrs...), as...)}
}

func (l logsWith) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	for _, a := range l.attrs {
		line += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, line)
	return nil
}

func (l *logs) matching(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, m := range l.msgs {
		for _, p := range parts {
			if !strings.Contains(m, p) {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// guarded checks every appended event against its published JSON Schema
// (schemas/events/EventFired.json): what a sensor records is what consumers were promised.
func guarded(t *testing.T, s eventstore.Store) eventstore.Store {
	t.Helper()
	v, err := eventschema.New()
	if err != nil {
		t.Fatalf("load event schemas: %v", err)
	}
	return eventschema.Guard(s, v)
}
