package auth

import "fmt"

// Role is what a token may do. Roles are ordered: each one may do everything the roles
// below it may.
type Role int

// The zero Role is no role at all, so a forgotten field never grants anything.
const (
	Viewer   Role = iota + 1 // reads
	Operator                 // also runs, cancels and reruns executions, enables, disables and tests rules
	Admin                    // also loads packs and manages tokens
)

// Roles lists every role, weakest first.
func Roles() []Role { return []Role{Viewer, Operator, Admin} }

// ParseRole reads a role's name, rejecting anything else.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return Viewer, nil
	case "operator":
		return Operator, nil
	case "admin":
		return Admin, nil
	}
	return 0, fmt.Errorf("role %q: want viewer, operator or admin", s)
}

func (r Role) String() string {
	switch r {
	case Viewer:
		return "viewer"
	case Operator:
		return "operator"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return r >= Viewer && r <= Admin }

// Allows reports whether a holder of r may do what needs at least min.
func (r Role) Allows(min Role) bool { return r.Valid() && r >= min }

// MarshalText writes the role's name (JSON, YAML).
func (r Role) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("marshal %v: not a role", r)
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a role's name, rejecting unknown ones.
func (r *Role) UnmarshalText(b []byte) error {
	parsed, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = parsed
	return nil
}
