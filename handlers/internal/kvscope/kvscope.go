// Package kvscope gives rule and workflow templates the keys of the key-value store they
// read (kv.system.NAME, kv.pack.NAME): all of them in one query per render, before it
// starts, since a template's keys are known when it compiles. It also holds the one policy
// for secret keys in templates: a secret key's value is opened here, may be rendered only as
// the whole value of a secret parameter of the action that runs, and that parameter is then
// sealed again for that action and parameter, so the worker alone opens it and masks it in
// the output. Anywhere else (criteria, a workflow's when, publish, vars, items, output — all
// recorded or shown in plaintext) a secret key is refused with a reason naming it.
package kvscope

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/handlers/keystore"
	"github.com/attune-go/attune/projections/keys"
)

// Reader fetches keys that hold a value at now, in one query, from the kv read model, once
// it has applied the log up to a position (*readmodel.DB).
type Reader interface {
	KeysReached(ctx context.Context, pos eventstore.Position) error
	LookupKeys(ctx context.Context, refs []kv.Ref, now time.Time) ([]keys.Key, error)
}

// ReachTimeout bounds the wait for the kv read model to reach the event a render is for; a
// message that runs out of it is retried by the bus.
const ReachTimeout = 30 * time.Second

// Refusal is a render that cannot be made: a secret key where it would leak, or a secret
// value that does not open. It will not get better on a retry.
type Refusal struct{ Reason string }

func (e *Refusal) Error() string { return e.Reason }

// Values is what one render reads of the store.
type Values struct {
	// Vars is the kv name of the template scope: {"system": {…}, "pack": {…}}.
	Vars   map[string]any
	secret map[ruleeval.KVRef]bool
}

// Ref is the store's key a template's ref names, for the pack of the rule or workflow.
func Ref(r ruleeval.KVRef, pack string) kv.Ref {
	if r.Scope == string(kv.Pack) {
		return kv.PackKey(pack, r.Name)
	}
	return kv.SystemKey(r.Name)
}

// Load fetches the keys refs name (kv.pack ones of pack) as they are at now, once the kv read
// model has applied the log up to after (the event being handled: every change recorded
// before it is seen), opening the secret ones with box. A reader's error is returned as it
// is (worth a retry); a value that does not open is a *Refusal.
func Load(ctx context.Context, r Reader, box *secret.Box, pack string, refs []ruleeval.KVRef, after eventstore.Position, now time.Time) (Values, error) {
	v := Values{Vars: map[string]any{string(kv.System): map[string]any{}, string(kv.Pack): map[string]any{}}, secret: map[ruleeval.KVRef]bool{}}
	if len(refs) == 0 {
		return v, nil
	}
	if r == nil {
		return v, &Refusal{Reason: fmt.Sprintf("the template reads %s, but this engine has no key-value store", refs[0])}
	}
	want := map[string]ruleeval.KVRef{}
	ids := make([]kv.Ref, 0, len(refs))
	for _, ref := range refs {
		k := Ref(ref, pack)
		want[k.StreamID()] = ref
		ids = append(ids, k)
	}
	wctx, cancel := context.WithTimeout(ctx, ReachTimeout)
	err := r.KeysReached(wctx, after)
	cancel()
	if err != nil {
		return v, fmt.Errorf("wait for the kv read model: %w", err)
	}
	found, err := r.LookupKeys(ctx, ids, now)
	if err != nil {
		return v, fmt.Errorf("read %d keys of the key-value store: %w", len(ids), err)
	}
	for _, k := range found {
		ref, ok := want[k.StreamID]
		if !ok || !k.Live(now) {
			continue
		}
		raw := k.Value
		if k.Secret {
			if box == nil {
				return v, &Refusal{Reason: fmt.Sprintf("%s is secret and this engine holds no secret key to open it", ref)}
			}
			if raw, err = box.OpenAt(k.Value, keystore.Binding(k.Ref())); err != nil {
				return v, &Refusal{Reason: fmt.Sprintf("%s: %v", ref, err)}
			}
			v.secret[ref] = true
		}
		val, err := ruleeval.DecodeJSON(raw)
		if err != nil {
			return v, &Refusal{Reason: fmt.Sprintf("%s: its value does not decode: %v", ref, err)}
		}
		v.Vars[ref.Scope].(map[string]any)[ref.Name] = val
	}
	return v, nil
}

// Secrets lists the secret keys among refs.
func (v Values) Secrets(refs []ruleeval.KVRef) []ruleeval.KVRef {
	var out []ruleeval.KVRef
	for _, r := range refs {
		if v.secret[r] {
			out = append(out, r)
		}
	}
	return out
}

// Forbid refuses a secret key among refs, read where its value would be recorded or shown
// in plaintext (where names the place: "criteria", "publish of task x").
func (v Values) Forbid(refs []ruleeval.KVRef, where string) error {
	if s := v.Secrets(refs); len(s) > 0 {
		return &Refusal{Reason: fmt.Sprintf("%s reads secret key %s: a secret key may be rendered only as the whole value of a secret parameter of an action ({{ %s }})",
			where, s[0], s[0])}
	}
	return nil
}

// SealParams applies the secret-key policy to rendered parameters of action: every
// parameter that reads a secret key must be exactly that key ({{ kv.system.NAME }}) and a
// secret parameter of the action; its value is then sealed for that action and parameter.
// members is the template's Template.KVMembers; isSecret says which parameters the action
// declares secret.
func (v Values) SealParams(box *secret.Box, rendered json.RawMessage, members map[string]ruleeval.KVMember, action string, isSecret func(string) bool) (json.RawMessage, error) {
	var names []string
	for name, m := range members {
		if len(v.Secrets(m.Refs)) > 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return rendered, nil
	}
	slices.Sort(names)
	var params map[string]json.RawMessage
	if err := json.Unmarshal(rendered, &params); err != nil {
		return nil, &Refusal{Reason: fmt.Sprintf("rendered parameters are not an object: %v", err)}
	}
	for _, name := range names {
		m := members[name]
		s := v.Secrets(m.Refs)
		switch {
		case m.Whole == nil || len(m.Refs) != 1:
			return nil, &Refusal{Reason: fmt.Sprintf("parameter %s reads secret key %s inside a larger value: a secret key may be rendered only as a whole parameter ({{ %s }}), which the worker masks in the output",
				name, s[0], s[0])}
		case !isSecret(name):
			return nil, &Refusal{Reason: fmt.Sprintf("parameter %s of %s reads secret key %s but is not a secret parameter: declare it secret: true in the action",
				name, action, s[0])}
		}
		sealed, err := box.Seal(params[name], secret.Binding{Action: action, Param: name})
		if err != nil {
			return nil, fmt.Errorf("seal parameter %s: %w", name, err)
		}
		params[name] = sealed
	}
	out, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode parameters: %w", err)
	}
	return out, nil
}

// Names joins refs for a message.
func Names(refs []ruleeval.KVRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
