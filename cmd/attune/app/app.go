// Package app is the composition root of `attune serve`: it wires the adapters, the relay,
// the projectors, the handlers, the sensors and the API into one process. Tests and
// benchmarks build the same root with their own schema and bus prefix.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/groupcommit"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/idempotency"
	"github.com/attune-go/attune/adapters/liveoutput"
	"github.com/attune-go/attune/adapters/metrics"
	"github.com/attune-go/attune/adapters/outage"
	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/adapters/runtime/packenv"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/registry"
)

// Config is everything the server roles need.
type Config struct {
	Pool      *pgxpool.Pool // migrated by Run
	AMQPURL   string        // empty: in-process bus
	BusPrefix string        // prefixes exchanges and queues (tests share one broker)
	// BusQueueExpiry has RabbitMQ delete queues unused this long (bus.Config.QueueExpiry).
	BusQueueExpiry time.Duration
	HTTPAddr       string // empty: no HTTP listener
	Logger         *slog.Logger
	// Packs are pack directories loaded (validated and registered) at start-up.
	Packs []string
	// OutputTTL is how long an execution's live output stays readable after its run ended
	// (liveoutput.DefaultTTL if 0); the sweep runs every TTL, at least once a minute.
	OutputTTL time.Duration
	// PackLimits bound what loading a pack may read (packloader's defaults where zero).
	PackLimits packloader.Limits
	// Contain is how sensor processes are contained (a worker's actions: WorkerConfig.Contain).
	Contain contain.Config
	// Box seals and opens secret parameters; every process of a deployment shares its key.
	Box *secret.Box
	// NoAuth turns access control off (every request is anonymous and allowed): for a
	// development machine only.
	NoAuth bool
	// ClientConfig is the CLI config file the first start writes an admin token to; empty:
	// the default (ATTUNE_CONFIG, else ~/.config/attune/config.yaml).
	ClientConfig string
	// Worker, when set, runs a worker in the process too (the single-process default).
	Worker *WorkerConfig
	// PackEnvs is where and how the packs' virtualenvs and node_modules are built on this
	// host (Dir defaults to packenv.DefaultDir()); Logger and OnChange are set by the app.
	PackEnvs packenv.Config
	// ReadyMaxLag is how far the relay or a projection may fall behind the log before
	// /readyz answers 503; DefaultReadyMaxLag if 0.
	ReadyMaxLag time.Duration
	// MaxPaused is how long a workflow may stay paused before the reaper cancels it;
	// reaper.DefaultMaxPaused if 0.
	MaxPaused time.Duration
	// QueueDeadline is how long an execution may wait in a policy's queue before it fails;
	// admission.DefaultQueueDeadline if 0.
	QueueDeadline time.Duration
	// Ready, when set, is called with the HTTP listener's address once every role runs (for
	// RunWorker: with the worker's id).
	Ready func(addr string)
}

// Server runs every role in one process.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store eventstore.Store // the guarded log: every append is schema-checked
	bus   *bus.Bus
	box   *secret.Box
	ready atomic.Bool

	raw         *pgstore.Store // the log without the guard, for the stream and the metrics
	locks       *postgres.Locks
	maxLag      time.Duration // readiness: see Config.ReadyMaxLag
	checkpoints checkpoint.Store
	metrics     *metrics.Metrics
	tokens      *auth.Store
	keys        *idempotency.Store // Idempotency-Key of the run and webhook routes
	models      *readmodel.DB      // every Postgres read model; the API queries it
	runners     []*projections.Runner
	registry    *registry.Registry // the in-memory pack catalogue the handlers decide with
	envs        packEnvs
}

// Run migrates the database, starts every role and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Pool == nil {
		return errors.New("app: no database pool")
	}
	if cfg.Box == nil {
		return errors.New("app: no secret box")
	}
	log := cmp.Or(cfg.Logger, slog.Default())
	if _, err := postgres.Migrate(ctx, cfg.Pool); err != nil {
		return err
	}
	// Every leadership of this process (relay, reaper, projections, the guard below) shares
	// one lock session outside the pool, rather than holding a connection each.
	locks := postgres.NewLocks(cfg.Pool)
	defer locks.Close()
	if cfg.AMQPURL == "" {
		// The in-process bus reaches only this process: a second server on the same database
		// would have workers that the other's scheduler places work on and never tells.
		// The scheduler is safe by construction (it places only on this process's worker);
		// the guard, watched and retaken after a database restart, says so to the operator.
		// On the lock session too: one connection fewer than a session of its own.
		// A process that finds, after its database session was lost, that another one took
		// the guard stops: the other holds it, and two of them would place work on each
		// other's workers, which neither bus reaches (ARCHITECTURE.md, "One process on the
		// in-process bus").
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		release, err := guardInProcess(ctx, locks, log, cancel)
		if errors.Is(err, postgres.ErrHeld) {
			return errors.New("another `attune serve` with the in-process bus already runs on this database; stop it, or run every process over RabbitMQ (--amqp-url) to run several")
		}
		if err != nil {
			return err
		}
		defer release()
	}
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
	models := readmodel.New(cfg.Pool).WithLeader(locks)
	checkpoints := checkpoint.NewPostgres(cfg.Pool)
	readers := map[string]func(context.Context) (eventstore.Position, error){
		relay.Name: metrics.CheckpointOf(checkpoints.Load, relay.Name),
	}
	for _, p := range projections.All() {
		readers[p.Name] = metrics.CheckpointOf(models.Checkpoint, p.Name)
	}
	var s *Server // the projection runners it starts report their stalls to the metrics
	m, err := metrics.New(metrics.Config{Logger: log, ReadAll: pg.ReadAll, Readers: readers, ExecutionsByStatus: models.CountExecutionsByStatus,
		OldestByStatus: models.OldestByStatus, Stalled: func() map[string]bool { return s.stalledProjections() },
		PolicyCounts: func(ctx context.Context) (map[string]metrics.PolicyCounts, error) {
			counts, err := models.CountPolicyMembers(ctx)
			out := make(map[string]metrics.PolicyCounts, len(counts))
			for ref, c := range counts {
				out[ref] = metrics.PolicyCounts{Running: c.Running, Queued: c.Queued + c.Delayed} // a rate limit's wait is in its queue too
			}
			return out, err
		}})
	if err != nil {
		return err
	}
	// The relay runs here, and every handler but the workers' is registered here: the bus
	// sends only what some handler binds (bus.Config.OnlyConsumed), told what workers in other
	// processes bind.
	b, err := bus.New(ctx, bus.Config{AMQPURL: cfg.AMQPURL, Prefix: cfg.BusPrefix, QueueExpiry: cfg.BusQueueExpiry, Logger: log, Consumers: 32,
		Instrument: m.Handler, Deliveries: m.Delivered, Transient: transient, OnlyConsumed: true})
	if err != nil {
		return err
	}
	defer b.Close()
	for topic, keys := range worker.Bindings() {
		b.Consumes(topic, keys...)
	}
	s = &Server{
		cfg: cfg, log: log, store: m.Store(eventschema.Guard(writer, validator)), raw: pg, bus: b, box: cfg.Box,
		locks: locks, metrics: m, models: models, tokens: auth.New(cfg.Pool), keys: idempotency.New(cfg.Pool),
		maxLag: cmp.Or(cfg.ReadyMaxLag, DefaultReadyMaxLag), checkpoints: checkpoints,
	}
	err = s.run(ctx)
	if cause := context.Cause(ctx); errors.Is(cause, postgres.ErrSuperseded) {
		return fmt.Errorf("stopped: %w; it runs on this database now", cause)
	}
	return err
}

func (s *Server) run(parent context.Context) error {
	// A start-up step that fails returns at once: cancel what already runs (the catalogue
	// follower, the reaper…) before waiting for it, or the wait would outlast the process's
	// reason to live and hide the error until someone kills it.
	ctx, cancel := context.WithCancel(parent)
	g, ctx := errgroup.WithContext(ctx)
	defer func() {
		cancel()
		_ = g.Wait()
	}()

	if err := s.startCatalog(ctx, g); err != nil {
		return err
	}

	// Handlers first: the in-process bus refuses publishes until its routers run, and on
	// RabbitMQ their queues must exist before the relay publishes into their exchanges.
	router := s.bus.NewRouter()
	s.registerHandlers(router)
	var w *worker.Worker
	if s.cfg.Worker != nil {
		var err error
		if w, err = newWorker(ctx, g, *s.cfg.Worker, s.store, heartbeat.New(s.cfg.Pool), s.registry, s); err != nil {
			return err
		}
		w.Register(router)
	}
	if err := s.registerScheduling(ctx, g, router, w); err != nil {
		return err
	}
	if err := router.Start(ctx); err != nil {
		return fmt.Errorf("start handlers: %w", err)
	}
	defer router.Close()
	if w != nil {
		g.Go(func() error { return w.Run(ctx) })
	}

	// One reader feeds every projection: one cursor over the log, one transaction per batch
	// for all the read models and their checkpoints, one leadership lock for the group.
	// s.runners (its members) is complete before the HTTP server starts: readiness and the
	// metrics read it.
	group, err := projections.NewGroup(projections.GroupConfig{Projections: projections.All(), Store: s.store, Target: s.models, Logger: s.log})
	if err != nil {
		return err
	}
	s.runners = group.Runners()
	g.Go(func() error { return group.Run(ctx) })

	rl, err := relay.New(relay.Config{
		Store:       s.store,
		Checkpoints: checkpoint.NewPostgres(s.cfg.Pool),
		Publisher:   s.bus,
		Logger:      s.log,
		Lanes:       32,
	})
	if err != nil {
		return err
	}
	g.Go(func() error { return leadForever(ctx, s.locks, relay.Name, s.log, rl.Run) })
	// Statistics that keep up with a fresh database's growth (postgres.Analyzer).
	analyzer := &postgres.Analyzer{Pool: s.cfg.Pool, Log: s.log}
	g.Go(func() error { return leadForever(ctx, s.locks, postgres.AnalyzerName, s.log, analyzer.Run) })

	if err := s.startSensors(ctx, g); err != nil {
		return err
	}
	// Expired keys are ignored by every claim already; the sweep only keeps the table small.
	g.Go(func() error {
		s.keys.SweepEvery(ctx, time.Hour, func(n int64, err error) {
			if err != nil {
				s.log.Warn("idempotency keys: sweep failed; retried in an hour", "error", err)
			} else if n > 0 {
				s.log.Debug("idempotency keys: swept", "deleted", n)
			}
		})
		return nil
	})

	// Live output (adapters/liveoutput): chunks go TTL after their run ended, or at MaxAge
	// when their worker died before recording the end.
	g.Go(func() error {
		ttl := cmp.Or(s.cfg.OutputTTL, liveoutput.DefaultTTL)
		liveoutput.New(s.cfg.Pool).SweepEvery(ctx, min(ttl, time.Minute), ttl, liveoutput.DefaultMaxAge, func(n int64, err error) {
			if err != nil {
				s.log.Warn("live output: sweep failed; retried at the next", "error", err)
			} else if n > 0 {
				s.log.Debug("live output: swept", "deleted", n)
			}
		})
		return nil
	})

	listener, err := s.startHTTP(ctx, g)
	if err != nil {
		return err
	}
	if listener != nil && !s.cfg.NoAuth {
		path, created, err := auth.Bootstrap(ctx, s.tokens, s.cfg.ClientConfig, clientconfig.LocalURL(listener.Addr().String()))
		if err != nil {
			if ctx.Err() != nil {
				// A role failed while the token was being made: its error is the one to report.
				if gerr := g.Wait(); gerr != nil {
					return gerr
				}
			}
			return fmt.Errorf("bootstrap the admin token: %w", err)
		}
		if created {
			s.log.Info("first start: admin token written to "+path+" (the CLI reads it from there)", "path", path)
		}
	}

	s.ready.Store(true)
	s.log.Info("attune is serving", "http_addr", addrOf(listener), "bus", busKind(s.cfg.AMQPURL))
	if s.cfg.Ready != nil {
		s.cfg.Ready(addrOf(listener))
	}
	err = g.Wait()
	s.ready.Store(false)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

func (s *Server) startHTTP(ctx context.Context, g *errgroup.Group) (net.Listener, error) {
	if s.cfg.HTTPAddr == "" {
		return nil, nil
	}
	listener, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: s.routes(ctx.Done()), ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP on %s: %w", listener.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	return listener, nil
}

// leadForever runs fn while this process holds the named leadership, and waits to take it
// again whenever it is lost, until ctx ends (then nil). It never gives up: a database that
// went away (at the lock, or under fn) is waited out with a capped backoff, and the outage
// is logged once when it starts and once when leadership is back.
func leadForever(ctx context.Context, locks *postgres.Locks, name string, log *slog.Logger, fn func(context.Context) error) error {
	var wait outage.Backoff
	down := outage.NewLog(log.With("role", name), name+": leadership")
	for {
		err := locks.Lead(ctx, name, func(ctx context.Context) error {
			down.Recovered()
			wait.Reset()
			return fn(ctx)
		})
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s returned while leading", name)
		}
		down.Failed(err)
		if !wait.Wait(ctx) {
			return nil
		}
	}
}

// stalledProjections says which of this process's projections are stalled at an event they
// cannot apply (attune_projection_stalled).
func (s *Server) stalledProjections() map[string]bool {
	out := make(map[string]bool, len(s.runners))
	for _, r := range s.runners {
		out[r.Name()] = r.Stalled() != nil
	}
	return out
}

// transient tells the bus which handler failures are an outage to wait out rather than a
// failure of the message: the database away, or the catalogue not following the log (it
// stops only with the process).
func transient(err error) bool {
	return pgstore.IsTransient(err) || errors.Is(err, registry.ErrStopped)
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

func busKind(amqpURL string) string {
	if amqpURL == "" {
		return "in-process"
	}
	return "rabbitmq"
}

// guardGrace is how long a starting serve waits for the in-process guard held by another
// session: a serve killed a moment ago still holds it until PostgreSQL notices that its
// connection is gone, which under load takes a few seconds. A second serve that really runs
// holds it longer, and this one then refuses to start.
const guardGrace = 15 * time.Second

// guardInProcess takes the in-process guard, waiting up to guardGrace for a holder to go.
func guardInProcess(ctx context.Context, locks *postgres.Locks, log *slog.Logger, superseded func(error)) (func(), error) {
	deadline := time.Now().Add(guardGrace)
	told := false
	for {
		release, err := locks.GuardAlone(ctx, "serve-inprocess", log, superseded)
		if !errors.Is(err, postgres.ErrHeld) || time.Now().After(deadline) {
			return release, err
		}
		if !told {
			told = true
			log.Warn("another session holds the in-process guard: waiting for it to end (a serve that just stopped)", "for", guardGrace)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
