// Package worker holds the lifecycle of workers: processes that run actions. Heartbeats are
// not events (design §2); a worker whose heartbeat stops is deregistered with a reason.
package worker

// StreamID is the stream of one worker: "worker-<id>".
func StreamID(workerID string) string { return "worker-" + workerID }

// Capabilities say what a worker can run.
type Capabilities struct {
	// Runtimes are the runner types (and aliases: sh/bash/shell, python/python3, node/nodejs)
	// the worker has an interpreter for.
	Runtimes []string `json:"runtimes"`
}

// WorkerRegistered records a worker joining: from then on it may be chosen to run executions
// of its runtimes, up to MaxConcurrency at once.
type WorkerRegistered struct {
	WorkerID       string       `json:"worker_id"`
	Name           string       `json:"name"`
	Host           string       `json:"host"`
	Capabilities   Capabilities `json:"capabilities"`
	MaxConcurrency int          `json:"max_concurrency"`
	Version        string       `json:"version,omitempty"` // the attune build it runs
}

// EventType is the wire name.
func (WorkerRegistered) EventType() string { return "WorkerRegistered" }

// WorkerDeregistered records a worker leaving: shut down cleanly, or lost (no heartbeat). Its
// scheduled and running executions are abandoned or rescheduled by the execution manager.
type WorkerDeregistered struct {
	WorkerID string `json:"worker_id"`
	Reason   string `json:"reason"`
	Lost     bool   `json:"lost,omitempty"` // true when it stopped answering, false on a clean stop
}

// EventType is the wire name.
func (WorkerDeregistered) EventType() string { return "WorkerDeregistered" }
