package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/groupcommit"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/liveoutput"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"github.com/attune-go/attune/adapters/runtime/host"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/adapters/runtime/st2"
	"github.com/attune-go/attune/handlers/admission"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/workflow"
	"github.com/attune-go/attune/projections/registry"
)

// WorkerConfig configures a worker role, embedded in serve or on its own (attune worker).
type WorkerConfig struct {
	// Runtimes limits what the worker offers; empty: every runtime found on this host.
	Runtimes       []string
	Name           string
	MaxConcurrency int
	PacksDir       string
	// RunsDir is where this host records the action processes under way
	// (process.Config.RunsDir); process.DefaultRunsDir() if empty.
	RunsDir string
	// Contain is how every action process is contained (user, cgroup, limits); a root
	// worker must name a user or allow root actions (contain.New says so at start).
	Contain           contain.Config
	HeartbeatInterval time.Duration
	Version           string
	// SSH configures StackStorm's remote runners: the known_hosts file and the default login.
	SSH st2.SSHConfig
}

// registerScheduling subscribes the scheduler and starts the reaper (one per deployment, by
// leader lock): together they place executions and make sure nothing waits forever.
//
// With the in-process bus the scheduler sees only this process's own worker (local, nil
// when it runs none): no other worker can hear of what the in-process bus carries.
func (s *Server) registerScheduling(ctx context.Context, g *errgroup.Group, router *bus.Router, local *worker.Worker) error {
	beats := heartbeat.New(s.cfg.Pool)
	// The scheduler asks who is alive at every placement: a burst of them reads the table
	// once per 100ms, and afresh when no worker fits (scheduler.Refreshing).
	live := heartbeat.NewCache(beats, heartbeat.DefaultCacheAge, nil)
	var reachable scheduler.Workers = live
	if s.cfg.AMQPURL == "" {
		reachable = scheduler.OnlyWorkers(live, func() []string {
			if local == nil {
				return nil
			}
			return []string{local.ID()}
		})
	}
	gate, err := admission.New(admission.Config{Log: s.store, Catalog: s.registry, Requests: s.models,
		QueueDeadline: s.cfg.QueueDeadline, Logger: s.log})
	if err != nil {
		return err
	}
	sched, err := scheduler.New(scheduler.Config{Log: s.store, Workers: reachable, Logger: s.log, Admission: gate})
	if err != nil {
		return err
	}
	scheduler.Register(router, sched)
	admission.Register(router, admission.NewHandler(gate, sched))
	// The reaper's own engine hands a workflow whose start was lost to the engine's decision,
	// as the bus would have; engines share nothing but the log.
	engine := workflow.New(workflow.Config{Log: s.store, Catalog: s.registry, Now: time.Now, Box: s.box, KV: s.models})
	rp, err := reaper.New(reaper.Config{Log: s.store, Heartbeats: beats, Executions: s.models, Scheduler: sched, Logger: s.log,
		WorkflowStart: engine.Start, MaxPaused: s.cfg.MaxPaused, Inquiries: s.inquiryEngine(), Keys: s.models})
	if err != nil {
		return err
	}
	g.Go(func() error { return leadForever(ctx, s.locks, reaper.Name, s.log, rp.Run) })
	return nil
}

// newWorker builds a worker on this host's runtimes.
func newWorker(ctx context.Context, g *errgroup.Group, wc WorkerConfig, log eventstore.Store, beats *heartbeat.Store, catalog *registry.Registry, s *Server) (*worker.Worker, error) {
	sandbox, err := contain.New(wc.Contain)
	if err != nil {
		return nil, err
	}
	s.log.Info("actions run contained", "containment", sandbox.Describe())
	runtimes, _, err := host.Detect(ctx, host.Config{Logger: s.log, Process: process.Config{RunsDir: wc.RunsDir, Sandbox: sandbox},
		StackStorm: st2.Config{KV: st2KV{log: log, box: s.box}, SSH: wc.SSH}})
	if err != nil {
		return nil, err
	}
	offered := runtimes.Supported()
	if len(wc.Runtimes) > 0 {
		var missing []string
		offered = nil
		for _, r := range wc.Runtimes {
			canon, ok := runtime.Canonical(r)
			if !ok || !slices.Contains(runtimes.Supported(), string(canon)) {
				missing = append(missing, r)
				continue
			}
			offered = append(offered, string(canon))
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("worker runtimes %v are not available on this host (it has %v)", missing, runtimes.Supported())
		}
	}
	envs, err := s.packEnvManager()
	if err != nil {
		return nil, err
	}
	if err := s.ensurePackEnvs(ctx, g, catalog, wc.PacksDir); err != nil {
		return nil, err
	}
	output := liveoutput.New(s.cfg.Pool)
	return worker.New(worker.Config{
		PackEnvs: envs,
		Name:     wc.Name, Runtimes: offered, MaxConcurrency: wc.MaxConcurrency, PacksDir: wc.PacksDir,
		HeartbeatInterval: wc.HeartbeatInterval, Version: cmp.Or(wc.Version, "dev"),
		Log: log, Heartbeats: beats, Runner: runtimes, Catalog: catalog, Box: s.box, Logger: s.log,
		LiveOutput: func(executionID string) (runtime.OutputSink, func(context.Context)) {
			w := output.Writer(executionID, liveoutput.WriterConfig{MaxBytes: process.DefaultMaxOutputBytes, Logger: s.log})
			return w, w.Close
		},
	})
}

// RunWorker runs a worker as its own process: it takes work from RabbitMQ and reports to the
// log, and stops cleanly (draining its runs) when ctx ends.
func RunWorker(ctx context.Context, cfg Config, wc WorkerConfig) error {
	if cfg.Pool == nil {
		return errors.New("app: no database pool")
	}
	if cfg.AMQPURL == "" {
		return errors.New("attune worker needs RabbitMQ (--amqp-url or ATTUNE_AMQP_URL): the in-process bus cannot reach a separate process")
	}
	log := cmp.Or(cfg.Logger, slog.Default())
	pg, err := pgstore.New(ctx, cfg.Pool, pgstore.Config{Logger: log})
	if err != nil {
		return err
	}
	// Every append of this process goes through one group-commit writer: the appends that
	// handlers issue while a commit is on its way go together in the next (ARCHITECTURE.md,
	// "The log"). The guard sits in front of it, so every event is checked before it queues.
	writer, err := groupcommit.New(pg, groupcommit.Config{})
	if err != nil {
		return err
	}
	validator, err := eventschema.New()
	if err != nil {
		return fmt.Errorf("load event schemas: %w", err)
	}
	b, err := bus.New(ctx, bus.Config{AMQPURL: cfg.AMQPURL, Prefix: cfg.BusPrefix, QueueExpiry: cfg.BusQueueExpiry, Logger: log, Transient: transient})
	if err != nil {
		return err
	}
	defer b.Close()
	s := &Server{cfg: cfg, log: log, store: eventschema.Guard(writer, validator), bus: b, box: cfg.Box}

	// A start-up step that fails cancels what already runs before returning (see Server.run).
	runCtx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	defer func() {
		cancel()
		_ = g.Wait()
	}()
	catalog := registry.New(registry.Config{Logger: log})
	g.Go(func() error { return catalog.Follow(gctx, s.store) })
	w, err := newWorker(gctx, g, wc, s.store, heartbeat.New(cfg.Pool), catalog, s)
	if err != nil {
		return err
	}
	router := b.NewRouter()
	w.Register(router)
	if err := router.Start(gctx); err != nil {
		return fmt.Errorf("start worker handlers: %w", err)
	}
	defer router.Close()
	g.Go(func() error { return w.Run(gctx) })
	if cfg.Ready != nil {
		cfg.Ready(w.ID())
	}
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}
