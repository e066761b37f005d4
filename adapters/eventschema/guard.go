package eventschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/safetext"
)

// Guard wraps a store so that Append checks every proposed event first and writes nothing
// when any fails (AppendMany: nothing of the entry holding it, which alone gets the error);
// reads and subscriptions pass through. Two checks, in order:
//
//   - text the read models cannot hold (safetext): a NUL or invalid UTF-8 anywhere in the
//     stream id, the data or the metadata, and strings over the limits of the fields a read
//     model indexes. The error matches, with errors.As, a *safetext.Error whose Field is a
//     JSON Pointer into the event ("/data/payload/msg", "/metadata/trace_tag", "/stream_id").
//   - the payload's JSON Schema: an *InvalidEventError.
//
// Every error matches eventstore.ErrInvalidAppend. The wrapper implements eventstore.Store
// only: optional interfaces of the wrapped store are not visible through it.
func Guard(store eventstore.Store, v *Validator) eventstore.Store {
	if store == nil || v == nil {
		panic("eventschema.Guard: nil store or validator") // wiring error
	}
	return guarded{Store: store, v: v}
}

type guarded struct {
	eventstore.Store
	v *Validator
}

var _ eventstore.Store = guarded{}

// Append implements eventstore.Store.
func (g guarded) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := g.check(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	return g.Store.Append(ctx, stream, expected, events...)
}

// AppendMany implements eventstore.Store: an entry that fails the checks gets its error and
// is not sent; the others are.
func (g guarded) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	out := make([]eventstore.StreamResult, len(appends))
	valid := make([]eventstore.StreamAppend, 0, len(appends))
	at := make([]int, 0, len(appends)) // index in appends of each valid entry
	for i, a := range appends {
		if err := g.check(a.Stream, a.Events); err != nil {
			out[i].Err = err
			continue
		}
		valid = append(valid, a)
		at = append(at, i)
	}
	if len(valid) == 0 {
		return out, nil
	}
	results, err := g.Store.AppendMany(ctx, valid)
	if err != nil {
		return nil, err
	}
	if len(results) != len(valid) {
		return nil, fmt.Errorf("append to %d streams: the store answered %d results to %d appends", len(appends), len(results), len(valid))
	}
	for j, r := range results {
		out[at[j]] = r
	}
	return out, nil
}

// check returns every problem of one stream's append, or nil.
func (g guarded) check(stream string, events []eventstore.Proposed) error {
	var errs []error
	if err := safetext.String("/stream_id", stream, safetext.MaxStreamIDBytes); err != nil {
		errs = append(errs, err)
	}
	for i, e := range events {
		if err := CheckText(e); err != nil {
			errs = append(errs, fmt.Errorf("event %d (%s): %w", i, e.Type, err))
			continue // its schema check would only repeat the problem less clearly
		}
		if err := g.v.Validate(e.Type, e.SchemaVersion, e.Data); err != nil {
			errs = append(errs, fmt.Errorf("event %d: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("append %d events to %s: %w: %w",
			len(events), stream, eventstore.ErrInvalidAppend, errors.Join(errs...))
	}
	return nil
}

// CheckText returns the first text of e that a read model cannot hold, as a *safetext.Error
// named by a JSON Pointer into the event, or nil.
func CheckText(e eventstore.Proposed) error {
	md := []struct {
		name, value string
		limit       int
	}{
		{"trace_tag", e.Metadata.TraceTag, safetext.MaxTraceTagBytes},
		{"correlation_id", e.Metadata.CorrelationID, safetext.MaxIDBytes},
		{"causation_id", e.Metadata.CausationID, safetext.MaxIDBytes},
		{"actor", e.Metadata.Actor, safetext.MaxIDBytes},
	}
	for _, f := range md {
		if err := safetext.String("/metadata/"+f.name, f.value, f.limit); err != nil {
			return err
		}
	}
	if err := safetext.String("/type", e.Type, safetext.MaxRefBytes); err != nil {
		return err
	}
	if !json.Valid(e.Data) {
		return nil // not JSON at all: the schema check names that
	}
	if err := safetext.JSON(e.Data, "/data", dataLimit); err != nil {
		return err
	}
	return nil
}

// indexedKeys are the payload fields a read model keeps in an indexed column (or that name a
// component, whose refs are keys of pack_components): refs, names and ids. They are bounded
// at the top level of a payload and in the objects of a top-level list (PackRegistered's
// actions, rules … and retired), never inside free-form JSON (payload, parameters, result),
// where a long string is the user's business and no index sees it.
var indexedKeys = map[string]bool{
	"ref": true, "name": true, "pack": true, "kind": true, "action": true, "rule": true,
	"trigger": true, "sensor": true, "source": true, "status": true, "task": true,
	"workflow_task": true, "worker_id": true, "execution_id": true, "event_id": true,
	"enforcement_id": true, "parent_id": true, "child_execution_id": true, "rerun_of": true,
	"retry_of": true,
}

func dataLimit(path []string) int {
	switch {
	case len(path) == 1 && indexedKeys[path[0]]:
		return safetext.MaxRefBytes
	case len(path) == 3 && isIndex(path[1]) && indexedKeys[path[2]]:
		return safetext.MaxRefBytes
	}
	return 0
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
