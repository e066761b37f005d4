// Package auth is access control for the HTTP API: bearer tokens, each with a role
// (viewer < operator < admin), kept in the api_tokens table (migration 00005_tokens.sql).
//
// A token is 32 random bytes shown once as att_<base64url>; only its SHA-256 is stored, so
// a copy of the database (or of a backup) grants nothing. Looking a token up by its hash
// needs no constant-time comparison: the hash is what the index is searched for, and an
// attacker learns nothing useful from timing a miss. Tokens are never logged; errors name a
// token by its id.
//
// Token management is deliberately not event-sourced: who may use the API is configuration
// of a deployment, not a fact of the automation domain that replays and projections need,
// and the catalogue of events (with its JSON Schemas) stays about automation. Auditors still
// see who could do what: rows are never deleted (revoking sets revoked_at and revoked_by),
// and every event appended through the API carries the token's name as its actor.
package auth

import (
	"context"
	"errors"
	"fmt"
)

// Principal is who made a request: the token that authenticated it.
type Principal struct {
	TokenID string
	Name    string // the actor recorded in the log
	Role    Role
}

// ErrInvalidToken means a token is unknown, malformed, revoked or expired: the request is
// unauthenticated. Errors wrapping it say which, naming the token by id only.
var ErrInvalidToken = errors.New("invalid token")

// ErrNotFound means no token has the id or name asked for.
var ErrNotFound = errors.New("token not found")

// ErrNameTaken means another live token already has the name asked for.
var ErrNameTaken = errors.New("token name taken")

// FieldError is a request to create a token that cannot be met, naming the field at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

type principalKey struct{}

// WithPrincipal returns ctx carrying p, for the use cases behind an authenticated request.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of an authenticated request's context.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
