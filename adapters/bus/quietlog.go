package bus

import (
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// quietWindow is how long watermill's repeats of one error are held back. While the broker
// is away, watermill-amqp logs an error per consumer per reconnect attempt (hundreds a
// second with 32 consumers per handler); one line per kind of error per window says the
// same.
const quietWindow = 30 * time.Second

// quietErrors wraps watermill's logger so that an error repeated within quietWindow is
// logged once, with the count of those held back on the next one that gets through.
type quietErrors struct {
	watermill.LoggerAdapter
	state *quietState
}

type quietState struct {
	mu   sync.Mutex
	last map[string]time.Time // message → when it was last logged
	held map[string]int       // message → repeats held back since
}

func newQuietErrors(l watermill.LoggerAdapter) quietErrors {
	return quietErrors{LoggerAdapter: l, state: &quietState{last: map[string]time.Time{}, held: map[string]int{}}}
}

func (q quietErrors) Error(msg string, err error, fields watermill.LogFields) {
	s := q.state
	s.mu.Lock()
	now := time.Now()
	if t, ok := s.last[msg]; ok && now.Sub(t) < quietWindow {
		s.held[msg]++
		s.mu.Unlock()
		return
	}
	held := s.held[msg]
	s.last[msg], s.held[msg] = now, 0
	s.mu.Unlock()
	if held > 0 {
		fields = fields.Add(watermill.LogFields{"repeats_not_logged": held})
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q quietErrors) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietErrors{LoggerAdapter: q.LoggerAdapter.With(fields), state: q.state}
}
