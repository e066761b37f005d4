package auth

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Token is a token's record; its secret is not part of it (only its hash is stored).
type Token struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Role        Role       `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	LastUsedAt  *time.Time `json:"last_used_at"` // refreshed at most once a minute
	ExpiresAt   *time.Time `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	RevokedBy   string     `json:"revoked_by,omitempty"`
}

// Active reports whether the token authenticates requests at now.
func (t Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// NewToken asks for a token.
type NewToken struct {
	Name        string // unique among live tokens; the actor of every request made with it
	Description string
	Role        Role
	CreatedBy   string    // who asked (a token's name, or the CLI's user)
	ExpiresAt   time.Time // zero: never
}

// names are actors in the log and arguments on command lines: keep them plain.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Validate reports every problem of the request at once, as *FieldError values.
func (n NewToken) Validate() error {
	var errs []error
	if !namePattern.MatchString(n.Name) {
		errs = append(errs, &FieldError{Field: "name", Message: fmt.Sprintf("name %q: want 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", n.Name)})
	}
	if !n.Role.Valid() {
		errs = append(errs, &FieldError{Field: "role", Message: "role is required: viewer, operator or admin"})
	}
	if n.CreatedBy == "" {
		errs = append(errs, &FieldError{Field: "created_by", Message: "created_by is required (who asked for the token)"})
	}
	return errors.Join(errs...)
}
