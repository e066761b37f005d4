package enforcement

import (
	"errors"

	"github.com/attune-go/attune/domain/event"
)

// State is an enforcement folded from its stream: what was created, and whether its outcome
// (processed or skipped) is recorded.
type State struct {
	created *EnforcementCreated
	done    bool
}

// FromEvents folds an enforcement's stream, which must hold its EnforcementCreated.
func FromEvents(events []event.Event) (*State, error) {
	s := &State{}
	for _, e := range events {
		switch e := e.(type) {
		case *EnforcementCreated:
			c := *e
			s.created = &c
		case *EnforcementProcessed, *EnforcementSkipped:
			s.done = true
		}
	}
	if s.created == nil {
		return nil, errors.New("fold enforcement: the stream does not open with EnforcementCreated")
	}
	return s, nil
}

// Created is the enforcement as the rule created it.
func (s *State) Created() EnforcementCreated { return *s.created }

// Done reports whether its outcome is recorded: processing it again changes nothing.
func (s *State) Done() bool { return s.done }
