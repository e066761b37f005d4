package app

import (
	"cmp"
	"context"
	"encoding/json"
	"path/filepath"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/runtime/packenv"
	"github.com/attune-go/attune/adapters/runtime/st2py"
	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/projections/registry"
)

// packEnvs is the one builder of pack dependency environments of this process: its worker
// and its sensors share it, so a pack's virtualenv is built once per host and process.
type packEnvs struct {
	once    sync.Once
	m       *packenv.Manager
	err     error
	changed chan struct{} // a build ended: sensors waiting for it may start
}

// packEnvManager returns the process's builder, made on first use.
func (s *Server) packEnvManager() (*packenv.Manager, error) {
	s.envs.once.Do(func() {
		s.envs.changed = make(chan struct{}, 1)
		cfg := s.cfg.PackEnvs
		cfg.Dir = cmp.Or(cfg.Dir, packenv.DefaultDir())
		cfg.Logger = s.log
		cfg.OnChange = func(packenv.Env) {
			select {
			case s.envs.changed <- struct{}{}:
			default:
			}
		}
		s.envs.m, s.envs.err = packenv.New(cfg)
	})
	return s.envs.m, s.envs.err
}

// ensurePackEnvs starts the builds every registered pack needs as soon as the catalogue
// shows it, so the first run of an action does not pay for pip or npm.
func (s *Server) ensurePackEnvs(ctx context.Context, g *errgroup.Group, catalog *registry.Registry, packsDir string) error {
	envs, err := s.packEnvManager()
	if err != nil {
		return err
	}
	g.Go(func() error {
		return catalog.Watch(ctx, func() {
			for _, p := range catalog.Packs() {
				if dir := worker.PackDir(packsDir, p); dir != "" {
					if err := envs.Ensure(p.Ref, dir); err != nil {
						s.log.Warn("pack environment not built", "pack", p.Ref, "error", err)
					}
				}
			}
		})
	})
	return nil
}

// watchBoth calls fn now, then whenever the catalogue changes or changed receives, until ctx
// ends.
func watchBoth(ctx context.Context, catalog *registry.Registry, changed <-chan struct{}, fn func()) error {
	for {
		ch := catalog.Changed()
		fn()
		select {
		case <-ch:
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// withPackEnv completes the run of a sensor with what its pack's dependencies and dialect
// need: the st2reactor wrapper for a StackStorm sensor class, the virtualenv's python for a
// python sensor of a pack with a requirements.txt, NODE_PATH for a node sensor of a pack with
// a package.json. It returns false while that environment is building (the sensor starts
// once it is ready) or when it failed (the log says why, with the build log's path).
func (s *Server) withPackEnv(envs *packenv.Manager, p pack.PackRegistered, run *process.Sensor) bool {
	kind := packenv.Python
	switch run.Sensor.RunnerType {
	case pack.RunnerPython:
	case pack.RunnerNode:
		kind = packenv.Node
	default:
		return true
	}
	if run.Sensor.ClassName != "" {
		dir, err := st2py.Materialize(envs.Dir())
		if err != nil {
			s.log.Error("sensor not started: the st2reactor stand-in cannot be written", "sensor", run.Sensor.Ref, "error", err)
			return false
		}
		run.Wrapper = filepath.Join(dir, st2py.SensorWrapper)
		run.Instances = s.triggerInstances(run.Sensor)
	}
	if err := envs.Ensure(p.Ref, p.Path); err != nil {
		s.log.Error("sensor not started", "sensor", run.Sensor.Ref, "error", err)
		return false
	}
	env, declared, found := envs.Lookup(p.Ref, p.Path, kind)
	switch {
	case !declared:
		return true
	case !found || env.State == packenv.Building:
		s.log.Info("sensor waits for its pack's environment", "sensor", run.Sensor.Ref, "file", kind.File(), "log", env.Log)
		return false
	case env.State == packenv.Failed:
		s.log.Error("sensor not started: its pack's environment failed to build", "sensor", run.Sensor.Ref, "file", kind.File(), "reason", env.Reason, "log", env.Log)
		return false
	case kind == packenv.Python:
		run.Interpreter = env.Python()
	default:
		run.Env = append(run.Env, "NODE_PATH="+env.NodePath())
	}
	return true
}

// triggerInstances lists, for each trigger of the sensor that takes parameters, the enabled
// rules on it with the parameters they pass: StackStorm's trigger instances. A rule enabled,
// disabled or changed changes the list, which restarts the sensor with the new set (in place
// of StackStorm's add_trigger/update_trigger/remove_trigger calls on a running sensor).
func (s *Server) triggerInstances(sn pack.Sensor) []process.Instance {
	var out []process.Instance
	for _, ref := range sn.Triggers {
		t, ok := s.registry.Trigger(ref)
		if !ok || len(t.ParametersSchema) == 0 {
			continue
		}
		for _, r := range s.registry.EnabledRulesFor(ref) {
			params := r.TriggerParams
			if len(params) == 0 {
				params = json.RawMessage(`{}`)
			}
			out = append(out, process.Instance{Rule: r.Ref, Trigger: ref, Parameters: params})
		}
	}
	return out
}
