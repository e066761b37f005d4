package auth_test

import (
	"encoding/json"
	"testing"

	"github.com/attune-go/attune/adapters/auth"
)

func TestRolesAreOrderedAndParsedStrictly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		have, need auth.Role
		allowed    bool
	}{
		{auth.Viewer, auth.Viewer, true},
		{auth.Viewer, auth.Operator, false},
		{auth.Viewer, auth.Admin, false},
		{auth.Operator, auth.Viewer, true},
		{auth.Operator, auth.Operator, true},
		{auth.Operator, auth.Admin, false},
		{auth.Admin, auth.Viewer, true},
		{auth.Admin, auth.Admin, true},
		{0, auth.Viewer, false}, // no role grants nothing
	} {
		if got := tc.have.Allows(tc.need); got != tc.allowed {
			t.Errorf("%v.Allows(%v) = %v, want %v", tc.have, tc.need, got, tc.allowed)
		}
	}
	for _, r := range auth.Roles() {
		parsed, err := auth.ParseRole(r.String())
		if err != nil || parsed != r {
			t.Errorf("ParseRole(%q) = %v, %v", r.String(), parsed, err)
		}
	}
	for _, bad := range []string{"", "Admin", "root", "superuser", " viewer"} {
		if _, err := auth.ParseRole(bad); err == nil {
			t.Errorf("ParseRole(%q) accepted an unknown role", bad)
		}
	}
	var r auth.Role
	if err := json.Unmarshal([]byte(`"owner"`), &r); err == nil {
		t.Errorf("JSON role %q accepted", "owner")
	}
	if b, err := json.Marshal(auth.Operator); err != nil || string(b) != `"operator"` {
		t.Errorf("JSON of operator = %s, %v", b, err)
	}
}
