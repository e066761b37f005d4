package pgstore

import "context"

// WithBeforeCommit returns cfg with a hook that runs inside every append transaction just
// before COMMIT, so tests can hold transactions open and make commits arrive out of order.
func WithBeforeCommit(cfg Config, hook func(ctx context.Context) error) Config {
	cfg.beforeCommit = hook
	return cfg
}
