package app

import (
	"context"
	"fmt"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"github.com/attune-go/attune/adapters/runtime/packenv"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/adapters/sensor/timer"
	"github.com/attune-go/attune/adapters/sensor/webhook"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/canceler"
	"github.com/attune-go/attune/handlers/enforce"
	"github.com/attune-go/attune/handlers/generictrigger"
	"github.com/attune-go/attune/handlers/inquiry"
	"github.com/attune-go/attune/handlers/packs"
	"github.com/attune-go/attune/handlers/retry"
	"github.com/attune-go/attune/handlers/rulematch"
	"github.com/attune-go/attune/handlers/workflow"
	"github.com/attune-go/attune/projections/registry"
)

// startCatalog follows the log into the in-memory pack catalogue and registers the core pack
// and the packs named on the command line. It returns once the catalogue includes them.
func (s *Server) startCatalog(ctx context.Context, g *errgroup.Group) error {
	s.registry = registry.New(registry.Config{Logger: s.log})
	g.Go(func() error { return s.registry.Follow(ctx, s.store) })
	if _, err := packs.RegisterCore(ctx, s.store); err != nil {
		return fmt.Errorf("register the core pack: %w", err)
	}
	for _, dir := range s.cfg.Packs {
		res, err := s.loadPack(ctx, dir, "serve")
		if err != nil {
			return err
		}
		s.log.Info("pack loaded", "pack", res.Ref, "outcome", res.Outcome, "dir", dir)
	}
	return nil
}

// loadPack validates the pack directory against what is registered and records it.
func (s *Server) loadPack(ctx context.Context, dir, actor string) (packs.Result, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return packs.Result{}, fmt.Errorf("pack directory %s: %w", dir, err)
	}
	reg, err := packloader.LoadDirWithin(abs, packloader.ResolverFunc(func(ref string) (*pack.PackRegistered, bool) {
		p, ok := s.registry.Pack(ref)
		return &p, ok
	}), s.cfg.PackLimits)
	if err != nil {
		return packs.Result{}, &packLoadError{dir: abs, err: err}
	}
	res, err := packs.Register(ctx, s.store, reg, actor)
	if err != nil {
		return res, err
	}
	res.Warnings = reg.Warnings
	for _, w := range reg.Warnings {
		s.log.Warn("pack loaded without part of it", "pack", reg.Ref, "warning", w)
	}
	// The catalogue follows the log on its own: wait until it holds what was just recorded,
	// so that a webhook or a run right after the load (or right after serve says it is ready)
	// finds the pack's triggers and actions instead of a 404.
	return res, s.awaitCatalog(ctx, reg.Ref, reg.Digest)
}

// awaitCatalog returns once the in-memory catalogue holds pack ref with the given digest, or
// fails after a while naming what it waited for.
func (s *Server) awaitCatalog(ctx context.Context, ref, digest string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		changed := s.registry.Changed()
		if p, ok := s.registry.Pack(ref); ok && p.Digest == digest {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("pack %s was recorded, but the catalogue has not caught up with it: %w", ref, ctx.Err())
		}
	}
}

// packLoadError carries every problem of a pack (file:line: field: message) to the API.
type packLoadError struct {
	dir string
	err error
}

func (e *packLoadError) Error() string {
	return fmt.Sprintf("pack %s is invalid: %s", e.dir, strings.ReplaceAll(e.err.Error(), "\n", "; "))
}

func (e *packLoadError) Unwrap() error { return e.err }

// registerHandlers subscribes every handler of the executor role.
func (s *Server) registerHandlers(router *bus.Router) {
	canceler.Register(router, s.store)
	rulematch.Register(router, rulematch.Config{Log: s.store, Catalog: s.registry, Box: s.box, KV: s.models})
	enforce.Register(router, enforce.Config{Log: s.store, Catalog: s.registry, Box: s.box})
	workflow.Register(router, workflow.Config{Log: s.store, Catalog: s.registry, Now: time.Now, Box: s.box, KV: s.models})
	retry.Register(router, retry.Config{Log: s.store, Catalog: s.registry, Now: time.Now})
	inquiry.Register(router, s.inquiryEngine())
	generictrigger.Register(router, generictrigger.Config{Log: s.store, Catalog: s.registry})
}

// startSensors runs the timers of the enabled timer rules and the enabled sensor processes,
// reconciled whenever the catalogue changes.
func (s *Server) startSensors(ctx context.Context, g *errgroup.Group) error {
	// Sensor processes are pack code, contained as actions are: a root server without
	// --run-as refuses to start here too, even with no worker of its own.
	sandbox, err := contain.New(s.cfg.Contain)
	if err != nil {
		return err
	}
	timers := timer.New(timer.Config{Store: s.store, Logger: s.log})
	sensors := process.New(process.Config{Store: s.store, Triggers: s.triggerLookup(), Logger: s.log, Sandbox: sandbox})
	g.Go(func() error { return timers.Run(ctx) })
	g.Go(func() error { return sensors.Run(ctx) })
	envs, err := s.packEnvManager()
	if err != nil {
		return err
	}
	g.Go(func() error {
		// Again when the catalogue changes, and when a pack's virtualenv is ready: a
		// sensor whose pack has a requirements.txt starts only then.
		return watchBoth(ctx, s.registry, s.envs.changed, func() {
			var rules []timer.TimerRule
			for _, r := range s.registry.TimerRules() {
				rules = append(rules, timer.TimerRule{Ref: r.Ref, Trigger: r.Trigger, TriggerParams: r.TriggerParams})
			}
			if err := timers.Set(rules); err != nil {
				s.log.Warn("some timer rules cannot run", "error", err)
			}
			if err := sensors.Set(s.sensorsToRun(envs)); err != nil {
				s.log.Warn("some sensors cannot run", "error", err)
			}
		})
	})
	return nil
}

func (s *Server) sensorsToRun(envs *packenv.Manager) []process.Sensor {
	var out []process.Sensor
	for _, sn := range s.registry.Sensors() {
		packRef, _, _ := strings.Cut(sn.Ref, ".")
		p, ok := s.registry.Pack(packRef)
		if !ok || p.Path == "" || !sn.Enabled {
			continue
		}
		run := process.Sensor{Sensor: sn, Script: filepath.Join(p.Path, "sensors", sn.EntryPoint), Config: p.Config}
		if s.withPackEnv(envs, p, &run) {
			out = append(out, run)
		}
	}
	return out
}

func (s *Server) triggerLookup() process.TriggerLookupFunc {
	return func(_ context.Context, ref string) (pack.Trigger, bool, error) {
		t, ok := s.registry.Trigger(ref)
		return t, ok, nil
	}
}

func (s *Server) webhooks() *webhook.Handler {
	lookup := s.triggerLookup()
	return webhook.New(webhook.Config{
		Store:    s.store,
		Triggers: webhook.TriggerLookupFunc(lookup),
		Secrets:  webhook.EnvSecrets(nil),
		Keys:     s.keys,
		Logger:   s.log,
		Hooks:    s.st2Hooks,
	})
}

// st2Hooks finds the enabled StackStorm rules on a webhook url: the url is served while one
// listens, with core.st2.webhook's gate.
func (s *Server) st2Hooks(_ context.Context, url string) (pack.Trigger, bool, error) {
	t, ok := s.registry.Trigger(webhook.St2Trigger)
	if !ok || !slices.ContainsFunc(s.registry.EnabledRulesFor(webhook.St2Trigger), func(r pack.Rule) bool { return pack.HookURL(r) == url }) {
		return pack.Trigger{}, false, nil
	}
	return t, true, nil
}
