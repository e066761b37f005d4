package builtin

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

// pause is StackStorm's core.pause: wait max_pause seconds (a whole number), then succeed.
// Cancelling or the timeout ends the wait as it ends core.sleep's.
func pause(ctx context.Context, req runtime.Request) runtime.Outcome {
	var p struct {
		MaxPause *int64 `json:"max_pause"`
	}
	if err := decode(req, &p); err != nil {
		return runtime.Failed("%v", err)
	}
	if p.MaxPause == nil || *p.MaxPause < 0 {
		return runtime.Failed("core.pause: parameter max_pause is required and must be >= 0")
	}
	return wait(ctx, time.Duration(min(*p.MaxPause, int64(maxWait/time.Second)))*time.Second)
}

// maxWait bounds a pause's timer far past any timeout an action can have.
const maxWait = 24 * 365 * time.Hour

// newUUID is StackStorm's core.uuid: a new UUID as the result, version 4 (random) unless
// uuid_type asks for uuid1 (time and node based).
func newUUID(_ context.Context, req runtime.Request) runtime.Outcome {
	var p struct {
		Type string `json:"uuid_type"`
	}
	if err := decode(req, &p); err != nil {
		return runtime.Failed("%v", err)
	}
	var id uuid.UUID
	var err error
	switch p.Type {
	case "", "uuid4":
		id, err = uuid.NewRandom()
	case "uuid1":
		id, err = uuid.NewUUID()
	default:
		return runtime.Failed("core.uuid: uuid_type %q: want uuid1 or uuid4", p.Type)
	}
	if err != nil {
		return runtime.Failed("core.uuid: %v", err)
	}
	res, err := result(id.String())
	if err != nil {
		return runtime.Failed("core.uuid: %v", err)
	}
	return runtime.Outcome{Status: execution.Completed, Result: res, Stdout: id.String()}
}
