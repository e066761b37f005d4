package event

// catalogue maps each wire type to a constructor of its empty payload. It is the list of
// everything the log can hold; schemas/events has one JSON Schema per entry.
var catalogue = map[string]func() Event{}
