package execution

import (
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/ident"
)

// IDForEnforcement is the id of the one execution an enforcement may request. The enforcement
// processor appends ExecutionRequested to StreamID(IDForEnforcement(e).String()) with
// eventstore.NoStream, so a redelivered EnforcementCreated cannot start the action twice.
func IDForEnforcement(enforcementID ulid.ULID) ulid.ULID {
	return ident.Derive(enforcementID, "execution")
}
