package request

import (
	"encoding/json"
	"time"
)

// TestRuleAt is TestRule with the clock fixed, for time criteria.
var TestRuleAt = func(catalog RuleCatalog, ruleRef string, eventPayload json.RawMessage, now time.Time) (Report, error) {
	return testRule(catalog, ruleRef, eventPayload, now, nil, nil)
}
