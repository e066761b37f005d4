package measure

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Backends measures the CPU of the PostgreSQL backends whose application_name starts with a
// prefix: the sessions of one server under test (its pool, its lock session, its LISTEN
// session are all named after the pool). PostgreSQL keeps no CPU counter per session, so it
// reads /proc/<pid>/stat of each backend listed in pg_stat_activity. Backends come and go (a
// pool replaces connections), so it samples every interval and keeps each backend's last
// reading: a backend that ends between two samples loses at most one interval of its CPU.
// The server must run on this host, readable by this user (root, or postgres).
type Backends struct {
	pool   *pgxpool.Pool
	prefix string

	mu    sync.Mutex
	base  map[int]time.Duration // CPU of each backend when Start ran (0 for later ones)
	last  map[int]time.Duration
	err   error
	stop  chan struct{}
	done  chan struct{}
	count int // backends seen since Start
}

// NewBackends watches the backends named prefix… through pool, which should be a session of
// its own (its backend is not counted unless its name matches).
func NewBackends(pool *pgxpool.Pool, prefix string) *Backends {
	return &Backends{pool: pool, prefix: prefix}
}

// Start takes the baseline and samples every interval until Stop.
func (b *Backends) Start(ctx context.Context, interval time.Duration) error {
	now, err := b.sample(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.base, b.last, b.count, b.err = now, map[int]time.Duration{}, len(now), nil
	for pid, cpu := range now {
		b.last[pid] = cpu
	}
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	b.mu.Unlock()
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				b.update(ctx)
			}
		}
	}()
	return nil
}

// Stop samples once more and returns the CPU the backends used since Start, and how many
// backends that was.
func (b *Backends) Stop(ctx context.Context) (time.Duration, int, error) {
	close(b.stop)
	<-b.done
	b.update(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	var total time.Duration
	for pid, cpu := range b.last {
		total += cpu - b.base[pid]
	}
	return total, b.count, b.err
}

func (b *Backends) update(ctx context.Context) {
	now, err := b.sample(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.err = err
		return
	}
	for pid, cpu := range now {
		if _, seen := b.last[pid]; !seen {
			b.count++
		}
		b.last[pid] = cpu
	}
}

const backendsSQL = `SELECT pid FROM pg_stat_activity WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()`

func (b *Backends) sample(ctx context.Context) (map[int]time.Duration, error) {
	rows, err := b.pool.Query(ctx, backendsSQL, b.prefix)
	if err != nil {
		return nil, fmt.Errorf("list backends of %s: %w", b.prefix, err)
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			rows.Close()
			return nil, err
		}
		pids = append(pids, pid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list backends of %s: %w", b.prefix, err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		cpu, err := ProcessCPU(pid)
		if err != nil {
			continue // ended since the listing; its last sample stands
		}
		out[pid] = cpu
	}
	if len(pids) > 0 && len(out) == 0 {
		return nil, fmt.Errorf("read CPU of PostgreSQL backends: no /proc entry of %d backends (is the server on another host, or this user not root?)", len(pids))
	}
	return out, nil
}
