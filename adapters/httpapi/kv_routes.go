package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/kv"
	"github.com/attune-go/attune/projections/keys"
)

// The key-value store: /api/v1/keys lists, /api/v1/keys/system/{name} and
// /api/v1/keys/pack/{pack}/{name} read, set (PUT) and delete one key. The route table lets a
// viewer read and an operator write; on top of it, secret keys are an admin's: only an admin
// sets, overwrites or deletes one (the use case refuses others with 403), and a secret value
// is shown as ******** unless an admin asks ?decrypt=true (anyone else asking gets 403).

// Key is the API's view of a key.
type Key struct {
	Scope  kv.Scope `json:"scope"`
	Pack   string   `json:"pack,omitempty"`
	Name   string   `json:"name"`
	Secret bool     `json:"secret"`
	// Value is the key's JSON value; "********" for a secret key unless decrypted.
	Value     json.RawMessage `json:"value"`
	ExpiresAt *time.Time      `json:"expires_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	UpdatedBy string          `json:"updated_by"`
}

// KeyView converts a row for the API; a secret value is redacted.
func KeyView(k keys.Key) Key {
	v := Key{Scope: k.Scope, Pack: k.Pack, Name: k.Name, Secret: k.Secret, Value: k.Value,
		ExpiresAt: optTime(k.ExpiresAt), UpdatedAt: k.UpdatedAt.UTC(), UpdatedBy: k.UpdatedBy}
	if k.Secret || secret.IsSealed(k.Value) {
		v.Value = json.RawMessage(strconv.Quote(secret.Redacted))
	}
	return v
}

// KeyWrite is the body of PUT /api/v1/keys/…: the value (any JSON), whether it is secret,
// and its time to live in seconds (0 or absent: it never expires).
type KeyWrite struct {
	Value  json.RawMessage `json:"value"`
	Secret bool            `json:"secret,omitempty"`
	TTL    int64           `json:"ttl,omitempty"`
}

// KeySetRequest is a KeyWrite for the use case, with the key and the caller.
type KeySetRequest struct {
	Ref    kv.Ref
	Value  json.RawMessage
	Secret bool
	TTL    time.Duration
	Actor  string
	Admin  bool
}

func (s *Server) registerKeyRoutes() {
	s.handle("GET /api/v1/keys", s.cfg.ListKeys != nil, s.listKeys)
	for _, path := range []string{"/api/v1/keys/system/{name}", "/api/v1/keys/pack/{pack}/{name}"} {
		s.handle("GET "+path, s.cfg.GetKey != nil, s.getKey)
		s.handle("PUT "+path, s.cfg.SetKey != nil, s.setKey)
		s.handle("DELETE "+path, s.cfg.DeleteKey != nil, s.deleteKey)
	}
}

// keyRef reads the key a path names; the pattern decides the scope.
func keyRef(r *http.Request) (kv.Ref, error) {
	ref := kv.SystemKey(r.PathValue("name"))
	if strings.Contains(r.Pattern, "{pack}") {
		ref = kv.PackKey(r.PathValue("pack"), r.PathValue("name"))
	}
	if err := ref.Validate(); err != nil {
		var fe *kv.FieldError
		if errors.As(err, &fe) {
			return ref, badRequest(fe.Field, "%s", fe.Message)
		}
		return ref, badRequest("", "%v", err)
	}
	return ref, nil
}

// isAdmin says whether the caller may touch secret keys: an admin token, or any caller when
// the API runs without access control.
func (s *Server) isAdmin(r *http.Request) bool {
	if s.cfg.Auth == nil {
		return true
	}
	p, ok := auth.PrincipalFrom(r.Context())
	return ok && p.Role.Allows(auth.Admin)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := keys.Filter{Scope: kv.Scope(p.str("scope")), Pack: p.str("pack"), Prefix: p.str("prefix"), Limit: p.limit(), Cursor: p.str("cursor")}
	if p.err != nil {
		return p.err
	}
	if err := f.Validate(); err != nil {
		return fieldError(err)
	}
	page, err := s.cfg.ListKeys(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Key, 0, len(page.Items))
	for _, k := range page.Items {
		items = append(items, KeyView(k))
	}
	writePage(w, items, page.Next)
	return nil
}

// fieldError answers the first *kv.FieldError of err as 400 naming its field.
func fieldError(err error) error {
	var fe *kv.FieldError
	if errors.As(err, &fe) {
		return badRequest(fe.Field, "%s", fe.Message)
	}
	return badRequest("", "%v", err)
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	decrypt := paramsOf(r).bool("decrypt")
	if d := r.URL.Query().Get("decrypt"); d != "" && decrypt == nil {
		return badRequest("decrypt", "decrypt %q: want true or false", d)
	}
	if decrypt != nil && *decrypt && !s.isAdmin(r) {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: "decrypt",
			Message: fmt.Sprintf("only an admin may decrypt a key; token %q is not one", actor(r))}
	}
	k, err := s.cfg.GetKey(r.Context(), ref)
	if errors.Is(err, keys.ErrNotFound) {
		return notFound("key", ref.String())
	}
	if err != nil {
		return err
	}
	view := KeyView(k)
	if decrypt != nil && *decrypt && k.Secret {
		if s.cfg.OpenKey == nil {
			return &Error{Status: http.StatusNotImplemented, Code: CodeBadRequest, Field: "decrypt", Message: "this server holds no secret key to decrypt with"}
		}
		plain, err := s.cfg.OpenKey(k)
		if err != nil {
			return fmt.Errorf("decrypt %s: %w", ref, err)
		}
		view.Value = plain
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (s *Server) setKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	var body KeyWrite
	if err := decodeBody(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	if len(body.Value) == 0 {
		return badRequest("value", "value is required: any JSON value (a string is quoted)")
	}
	if body.TTL < 0 || body.TTL > int64(kv.MaxTTL/time.Second) {
		return badRequest("ttl", "ttl %d: want 0 (never expires) up to %d seconds", body.TTL, int64(kv.MaxTTL/time.Second))
	}
	if body.Secret && !s.isAdmin(r) {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: "secret",
			Message: fmt.Sprintf("only an admin may set a secret key; token %q is not one", actor(r))}
	}
	set, err := s.cfg.SetKey(r.Context(), KeySetRequest{Ref: ref, Value: body.Value, Secret: body.Secret,
		TTL: time.Duration(body.TTL) * time.Second, Actor: actor(r), Admin: s.isAdmin(r)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, KeyView(keys.Key{Scope: set.Scope, Pack: set.Pack, Name: set.Name, Value: set.Value,
		Secret: set.Secret, ExpiresAt: set.ExpiresAt, UpdatedAt: time.Now().UTC(), UpdatedBy: actor(r)}))
	return nil
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	if err := s.cfg.DeleteKey(r.Context(), ref, actor(r), s.isAdmin(r)); err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return notFound("key", ref.String())
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
