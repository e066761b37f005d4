package scheduler

import (
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/pack"
)

// Canonical is the runner type a runtime name or alias stands for (sh/bash/shell,
// python/python3, node/nodejs); ok is false for a name no worker can have.
func Canonical(name string) (pack.RunnerType, bool) { return runtime.Canonical(name) }

// Select picks the worker for an execution of runtime (canonical) among live workers: one
// that lists the runtime (under any alias) and has room — a free slot or a place in its
// backlog of backlog×slots queued runs — the least loaded first. Load is the share of its
// slots in use, so an idle big worker is preferred over a half-busy small one; equal shares
// go to the worker with fewer executions, then to tie(n), a random one of the n equals in
// production. ok is false when no worker qualifies.
//
// The backlog is what makes throughput independent of the heartbeat: a worker reports its
// load every few seconds, and without a queue of its own it could only be given as many runs
// per beat as it has slots.
func Select(workers []heartbeat.Worker, runtime pack.RunnerType, backlog int, tie func(n int) int) (w heartbeat.Worker, ok bool) {
	var best []heartbeat.Worker
	for _, c := range workers {
		if c.Draining || c.Running >= c.MaxConcurrency*(1+backlog) || !supports(c, runtime) {
			continue
		}
		if len(best) == 0 {
			best = append(best, c)
			continue
		}
		switch compareLoad(c, best[0]) {
		case -1:
			best = append(best[:0], c)
		case 0:
			best = append(best, c)
		}
	}
	if len(best) == 0 {
		return heartbeat.Worker{}, false
	}
	return best[tie(len(best))], true
}

// Capable reports whether any live worker that is not stopping offers the runtime, busy or
// not.
func Capable(workers []heartbeat.Worker, runtime pack.RunnerType) bool {
	for _, w := range workers {
		if !w.Draining && supports(w, runtime) {
			return true
		}
	}
	return false
}

func supports(w heartbeat.Worker, rt pack.RunnerType) bool {
	for _, name := range w.Runtimes {
		if c, ok := Canonical(name); ok && c == rt {
			return true
		}
	}
	return false
}

// compareLoad orders by running/max (compared by cross-multiplying, no float rounding), then
// by running.
func compareLoad(a, b heartbeat.Worker) int {
	l, r := a.Running*b.MaxConcurrency, b.Running*a.MaxConcurrency
	switch {
	case l < r:
		return -1
	case l > r:
		return 1
	case a.Running < b.Running:
		return -1
	case a.Running > b.Running:
		return 1
	}
	return 0
}

// placements counts the executions this process placed on each worker since that worker's
// last beat. A beat reports load only every few seconds; without these counts a burst of
// requests would all go to the worker that was least loaded at its last beat, past its
// capacity. A newer beat (another LastSeen) supersedes the count: it is the worker's own. Other
// scheduler processes keep their own counts, which is good enough for a heuristic: the
// worker queues what exceeds its slots rather than refusing it.
type placements struct {
	mu     sync.Mutex
	counts map[string]placed
}

type placed struct {
	lastSeen time.Time
	n        int
}

// load adds this process's recent placements to each worker's reported load, and forgets
// the counts of workers that are no longer live.
func (p *placements) load(live []heartbeat.Worker) []heartbeat.Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]heartbeat.Worker, len(live))
	seen := make(map[string]bool, len(live))
	for i, w := range live {
		seen[w.ID] = true
		if c, ok := p.counts[w.ID]; ok && c.lastSeen.Equal(w.LastSeen) {
			w.Running += c.n
		}
		out[i] = w
	}
	for id := range p.counts {
		if !seen[id] {
			delete(p.counts, id)
		}
	}
	return out
}

// add counts one placement on w, as of the beat the choice was made on.
func (p *placements) add(w heartbeat.Worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = map[string]placed{}
	}
	c := p.counts[w.ID]
	if !c.lastSeen.Equal(w.LastSeen) {
		c = placed{lastSeen: w.LastSeen}
	}
	c.n++
	p.counts[w.ID] = c
}
