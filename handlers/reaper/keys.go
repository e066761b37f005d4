package reaper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/handlers/keystore"
)

// ExpiredKeys lists keys whose time to live ran out by now and whose rows are still in the
// kv read model, oldest expiry first (*readmodel.DB).
type ExpiredKeys interface {
	ExpiredKeys(ctx context.Context, now time.Time, limit int) ([]kv.Ref, error)
}

// expireBatch bounds one pass; the next pass, a second later, takes the rest.
const expireBatch = 500

// expireKeys records KeyExpired for every key whose expires_at has passed. Readers stopped
// seeing the value at expires_at already (every query honours it); this makes the log say
// so, and removes the row. A key set again or deleted meanwhile folds to nothing to do.
func (r *Reaper) expireKeys(ctx context.Context) error {
	if r.cfg.Keys == nil {
		return nil
	}
	now := r.cfg.Now()
	refs, err := r.cfg.Keys.ExpiredKeys(ctx, now, expireBatch)
	if err != nil {
		return fmt.Errorf("expire keys: %w", err)
	}
	var errs []error
	for _, ref := range refs {
		expired, err := keystore.Expire(ctx, r.cfg.Log, ref, Name, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("expire %s: %w", ref, err))
			continue
		}
		if expired {
			r.log.DebugContext(ctx, "key expired", "key", ref.String())
		}
	}
	return errors.Join(errs...)
}
