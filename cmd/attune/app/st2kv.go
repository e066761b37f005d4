package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/handlers/keystore"
	"github.com/attune-go/attune/projections/keys"
)

// st2Actor is who the log says set or deleted a key from a StackStorm action's action_service.
const st2Actor = "stackstorm-action"

// st2KV is the key-value store as StackStorm actions use it on a worker (st2kv in parameter
// templates, action_service in python actions): read from and written to the keys' streams,
// so a value set a moment ago is seen, with secret values opened by the worker's key. An
// action may set a secret key (encrypt=True), as StackStorm lets it: the value is sealed
// before it is appended.
type st2KV struct {
	log keystore.Log
	box *secret.Box
}

func (k st2KV) Get(ctx context.Context, ref kv.Ref) (value json.RawMessage, found, isSecret bool, err error) {
	key, err := keystore.GetKey(ctx, k.log, ref, time.Now())
	if errors.Is(err, keys.ErrNotFound) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	if !key.Secret {
		return key.Value, true, false, nil
	}
	if k.box == nil {
		return nil, false, true, fmt.Errorf("%s is secret, and this worker has no secret key to open it", ref)
	}
	plain, err := k.box.OpenAt(key.Value, keystore.Binding(ref))
	if err != nil {
		return nil, false, true, fmt.Errorf("open %s: %w", ref, err)
	}
	return plain, true, true, nil
}

func (k st2KV) Set(ctx context.Context, ref kv.Ref, value json.RawMessage, secretValue bool, ttl time.Duration) error {
	_, err := keystore.SetKey(ctx, k.log, k.box, keystore.Set{Ref: ref, Value: value, Secret: secretValue, TTL: ttl, Actor: st2Actor, Admin: true}, time.Now())
	return err
}

func (k st2KV) Delete(ctx context.Context, ref kv.Ref) (bool, error) {
	err := keystore.DeleteKey(ctx, k.log, ref, st2Actor, true, time.Now())
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
