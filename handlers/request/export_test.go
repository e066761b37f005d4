package request

// TestRuleAt is TestRule with the clock fixed, for time criteria.
var TestRuleAt = testRule
