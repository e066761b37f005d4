package app

import (
	"cmp"
	"context"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/runtime/packenv"
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
