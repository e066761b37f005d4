package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

func setup(t *testing.T) (*auth.Store, *pgtest.Schema) {
	t.Helper()
	s := pgtest.New(t)
	return auth.New(s.Pool), s
}

func create(t *testing.T, store *auth.Store, name string, role auth.Role) (auth.Token, string) {
	t.Helper()
	tok, secret, err := store.Create(context.Background(), auth.NewToken{Name: name, Role: role, CreatedBy: "test"})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	return tok, secret
}

func TestCreatedTokensAuthenticateWithTheirRole(t *testing.T) {
	t.Parallel()
	store, _ := setup(t)
	ctx := context.Background()
	for _, role := range auth.Roles() {
		tok, secret := create(t, store, "ci-"+role.String(), role)
		if !strings.HasPrefix(secret, "att_") || len(secret) != len("att_")+43 {
			t.Errorf("secret %q: want att_ and 43 base64url characters", secret)
		}
		p, err := store.Authenticate(ctx, secret)
		if err != nil {
			t.Fatalf("authenticate %s: %v", tok.Name, err)
		}
		if want := (auth.Principal{TokenID: tok.ID, Name: "ci-" + role.String(), Role: role}); p != want {
			t.Errorf("principal = %+v, want %+v", p, want)
		}
	}
	tokens, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 3 {
		t.Fatalf("List = %d tokens, want 3", len(tokens))
	}
	for _, tok := range tokens {
		if tok.LastUsedAt == nil || tok.CreatedBy != "test" || tok.RevokedAt != nil || !tok.Active(time.Now()) {
			t.Errorf("after one use, token %+v: want last_used_at set, created_by test, active", tok)
		}
	}
}

func TestTokensAreStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	store, s := setup(t)
	_, secret := create(t, store, "secretive", auth.Admin)

	var dump string
	var hash []byte
	if err := s.Pool.QueryRow(context.Background(), `SELECT t::text, t.hash FROM api_tokens t`).Scan(&dump, &hash); err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(secret, "att_")
	for _, part := range []string{secret, body, body[:16], body[len(body)-16:]} {
		if strings.Contains(dump, part) {
			t.Errorf("the token's text %q is in its row: %s", part, dump)
		}
	}
	if want := sha256.Sum256([]byte(secret)); string(hash) != string(want[:]) {
		t.Errorf("stored hash %x, want sha256 of the token %x", hash, want)
	}
}

func TestRevokedExpiredUnknownAndMalformedTokensAreRefused(t *testing.T) {
	t.Parallel()
	store, s := setup(t)
	ctx := context.Background()
	_, revokedSecret := create(t, store, "leaked", auth.Operator)
	expired, expiredSecret := create(t, store, "old", auth.Viewer)
	// Expiry cannot be set in the past through Create; age the row instead.
	if _, err := s.Pool.Exec(ctx, `UPDATE api_tokens SET expires_at = created_at + interval '1 microsecond' WHERE id = $1`, expired.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Revoke(ctx, "leaked", "alice"); err != nil {
		t.Fatalf("revoke by name: %v", err)
	}
	_, other := create(t, store, "other", auth.Admin)
	unknown := "att_" + strings.Repeat("A", 43)

	for _, tc := range []struct{ name, secret, says string }{
		{"revoked", revokedSecret, "revoked"},
		{"expired", expiredSecret, "expired"},
		{"unknown", unknown, "unknown"},
		{"empty", "", "not an Attune token"},
		{"other scheme", "ghp_abc", "not an Attune token"},
		{"truncated", other[:len(other)-1], "not an Attune token"},
	} {
		_, err := store.Authenticate(ctx, tc.secret)
		if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s token: err %v, want ErrInvalidToken saying %q", tc.name, err, tc.says)
		}
		if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s token: the error repeats the token: %v", tc.name, err)
		}
	}
	if _, err := store.Authenticate(ctx, other); err != nil {
		t.Errorf("a live token among refused ones: %v", err)
	}
}

func TestRevokeRecordsWhoAndWhenOnceAndFreesTheName(t *testing.T) {
	t.Parallel()
	store, _ := setup(t)
	ctx := context.Background()
	tok, _ := create(t, store, "deploy", auth.Operator)

	first, err := store.Revoke(ctx, tok.ID, "alice")
	if err != nil {
		t.Fatalf("revoke by id: %v", err)
	}
	if first.RevokedAt == nil || first.RevokedBy != "alice" || first.Active(time.Now()) {
		t.Errorf("revoked token %+v: want revoked_at, revoked_by alice, inactive", first)
	}
	again, err := store.Revoke(ctx, tok.ID, "bob")
	if err != nil {
		t.Fatalf("revoke twice: %v", err)
	}
	if again.RevokedBy != "alice" || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Errorf("second revocation rewrote the first: %+v", again)
	}
	if _, err := store.Revoke(ctx, "deploy", "bob"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("revoke by the name of a revoked token: err %v, want ErrNotFound", err)
	}
	if _, err := store.Revoke(ctx, "nobody", "bob"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("revoke an unknown token: err %v, want ErrNotFound", err)
	}
	successor, secret := create(t, store, "deploy", auth.Viewer)
	if p, err := store.Authenticate(ctx, secret); err != nil || p.TokenID != successor.ID {
		t.Errorf("successor named like a revoked token: %+v, %v", p, err)
	}
	tokens, _ := store.List(ctx)
	if len(tokens) != 2 {
		t.Errorf("List = %d tokens, want 2: revoked tokens stay on record", len(tokens))
	}
}

func TestCreateRejectsBadRequests(t *testing.T) {
	t.Parallel()
	store, _ := setup(t)
	ctx := context.Background()
	create(t, store, "taken", auth.Viewer)

	if _, _, err := store.Create(ctx, auth.NewToken{Name: "taken", Role: auth.Admin, CreatedBy: "t"}); !errors.Is(err, auth.ErrNameTaken) {
		t.Errorf("duplicate live name: err %v, want ErrNameTaken", err)
	}
	for _, tc := range []struct {
		req   auth.NewToken
		field string
	}{
		{auth.NewToken{Name: "", Role: auth.Viewer, CreatedBy: "t"}, "name"},
		{auth.NewToken{Name: "has space", Role: auth.Viewer, CreatedBy: "t"}, "name"},
		{auth.NewToken{Name: "x", CreatedBy: "t"}, "role"},
		{auth.NewToken{Name: "x", Role: auth.Role(9), CreatedBy: "t"}, "role"},
		{auth.NewToken{Name: "x", Role: auth.Viewer}, "created_by"},
		{auth.NewToken{Name: "x", Role: auth.Viewer, CreatedBy: "t", ExpiresAt: time.Now().Add(-time.Hour)}, "expires_at"},
	} {
		_, secret, err := store.Create(ctx, tc.req)
		var fe *auth.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Create(%+v): err %v, want a *FieldError on %s", tc.req, err, tc.field)
		}
		if secret != "" {
			t.Errorf("Create(%+v) returned a secret with an error", tc.req)
		}
	}
	if tokens, _ := store.List(ctx); len(tokens) != 1 {
		t.Errorf("List = %d tokens after rejected requests, want 1", len(tokens))
	}
}

func TestLastUsedIsRecordedAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	store, s := setup(t)
	ctx := context.Background()
	tok, secret := create(t, store, "busy", auth.Viewer)
	lastUsed := func() time.Time {
		t.Helper()
		var at time.Time
		if err := s.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, tok.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if _, err := store.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	first := lastUsed()
	if _, err := store.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("a second use within a minute moved last_used_at from %v to %v", first, got)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	aged := lastUsed()
	if _, err := store.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.After(aged) {
		t.Errorf("a use two minutes after the last left last_used_at at %v", got)
	}
}

func TestTokensCommandsNameAMissingTable(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmpty(t)
	_, err := auth.New(s.Pool).List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "attune migrate") {
		t.Errorf("List on an unmigrated schema: err %v, want it to say run attune migrate", err)
	}
}
