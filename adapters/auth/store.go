package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
)

// Store is the api_tokens table of the pool's schema (its search_path).
type Store struct {
	pool *pgxpool.Pool
}

// New returns the token table of the pool's schema.
func New(pool *pgxpool.Pool) *Store {
	if pool == nil {
		panic("auth: nil pool") // wiring error
	}
	return &Store{pool: pool}
}

// touchEvery bounds how often a request writes last_used_at: a token used by a busy script
// would otherwise turn every read into a write.
const touchEvery = time.Minute

const (
	columns = `id, name, description, role, created_at, created_by, last_used_at, expires_at, revoked_at, coalesce(revoked_by, '')`

	insertSQL = `
INSERT INTO api_tokens (id, name, description, role, hash, created_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING ` + columns

	// One indexed lookup per request; the flags are computed by the database's clock so
	// every API process agrees on expiry.
	authenticateSQL = `
SELECT id, name, role, revoked_at IS NOT NULL, coalesce(expires_at <= now(), false),
       last_used_at IS NULL OR last_used_at < now() - $2 * interval '1 microsecond'
FROM api_tokens WHERE hash = $1`

	touchSQL = `UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND revoked_at IS NULL`

	listSQL = `SELECT ` + columns + ` FROM api_tokens ORDER BY created_at, id`

	byIDSQL = `SELECT ` + columns + ` FROM api_tokens WHERE id = $1`

	revokeByIDSQL = `
UPDATE api_tokens SET revoked_at = now(), revoked_by = $2
WHERE id = $1 AND revoked_at IS NULL
RETURNING ` + columns

	revokeByNameSQL = `
UPDATE api_tokens SET revoked_at = now(), revoked_by = $2
WHERE name = $1 AND revoked_at IS NULL
RETURNING ` + columns

	activeAdminSQL = `
SELECT EXISTS (SELECT 1 FROM api_tokens
               WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))`
)

// querier is what both a pool and a transaction offer, so Bootstrap can create a token in
// its own transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Create makes a token and returns its record and its secret: the only time the secret
// exists outside the caller's hands.
func (s *Store) Create(ctx context.Context, n NewToken) (Token, string, error) {
	return create(ctx, s.pool, n)
}

func create(ctx context.Context, q querier, n NewToken) (Token, string, error) {
	if err := n.Validate(); err != nil {
		return Token{}, "", err
	}
	secret, hash := newSecret()
	var expires *time.Time
	if !n.ExpiresAt.IsZero() {
		expires = &n.ExpiresAt
	}
	row := q.QueryRow(ctx, insertSQL, ulid.Make().String(), n.Name, n.Description, n.Role.String(), hash, n.CreatedBy, expires)
	t, err := scanToken(row)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", n.Name, translate(err))
	}
	return t, secret, nil
}

// Authenticate returns the principal of a live token, or an error wrapping ErrInvalidToken
// when the token is malformed, unknown, revoked or expired. Any other error means the
// answer is unknown (the database failed).
func (s *Store) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !wellFormed(secret) {
		return Principal{}, fmt.Errorf("%w: not an Attune token (want %s…)", ErrInvalidToken, Prefix)
	}
	var (
		p                       Principal
		role                    string
		revoked, expired, stale bool
	)
	err := s.pool.QueryRow(ctx, authenticateSQL, hashOf(secret), touchEvery.Microseconds()).
		Scan(&p.TokenID, &p.Name, &role, &revoked, &expired, &stale)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Principal{}, fmt.Errorf("%w: unknown token", ErrInvalidToken)
	case err != nil:
		return Principal{}, fmt.Errorf("authenticate token: %w", translate(err))
	case revoked:
		return Principal{}, fmt.Errorf("%w: token %s (%s) was revoked", ErrInvalidToken, p.TokenID, p.Name)
	case expired:
		return Principal{}, fmt.Errorf("%w: token %s (%s) has expired", ErrInvalidToken, p.TokenID, p.Name)
	}
	if p.Role, err = ParseRole(role); err != nil {
		return Principal{}, fmt.Errorf("authenticate token %s: %w", p.TokenID, err)
	}
	if stale {
		if _, err := s.pool.Exec(ctx, touchSQL, p.TokenID); err != nil {
			return Principal{}, fmt.Errorf("record use of token %s: %w", p.TokenID, err)
		}
	}
	return p, nil
}

// List returns every token, revoked and expired ones included, oldest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	rows, err := s.pool.Query(ctx, listSQL)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Token, error) { return scanToken(row) })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	return ts, nil
}

// Revoke ends a token, named by its id or by the name of a live token, and returns its
// record. Revoking a revoked token (by id) returns it unchanged: the first revocation is
// the one on record.
func (s *Store) Revoke(ctx context.Context, idOrName, by string) (Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, revokeByIDSQL, idOrName, by))
	if errors.Is(err, pgx.ErrNoRows) { // already revoked, or a name
		t, err = scanToken(s.pool.QueryRow(ctx, byIDSQL, idOrName))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		t, err = scanToken(s.pool.QueryRow(ctx, revokeByNameSQL, idOrName, by))
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Token{}, fmt.Errorf("revoke token %q: %w (no token has that id, and no live token that name)", idOrName, ErrNotFound)
	case err != nil:
		return Token{}, fmt.Errorf("revoke token %q: %w", idOrName, translate(err))
	}
	return t, nil
}

func scanToken(row pgx.Row) (Token, error) {
	var (
		t    Token
		role string
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Description, &role, &t.CreatedAt, &t.CreatedBy, &t.LastUsedAt, &t.ExpiresAt, &t.RevokedAt, &t.RevokedBy); err != nil {
		return Token{}, err
	}
	var err error
	if t.Role, err = ParseRole(role); err != nil {
		return Token{}, fmt.Errorf("token %s: %w", t.ID, err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	for _, p := range []**time.Time{&t.LastUsedAt, &t.ExpiresAt, &t.RevokedAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	return t, nil
}

// translate turns the driver's errors into this package's, once, at the edge.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case pgErr.Code == "23505" && pgErr.ConstraintName == "api_tokens_active_name":
		return fmt.Errorf("%w: a live token already has that name (revoke it first, or choose another)", ErrNameTaken)
	case pgErr.Code == "23514" && pgErr.ConstraintName == "api_tokens_expiry_after_creation":
		return &FieldError{Field: "expires_at", Message: "expires_at must be in the future"}
	case pgErr.Code == "42P01": // undefined_table
		return fmt.Errorf("table api_tokens is missing: run `attune migrate` first: %w", err)
	}
	return err
}
