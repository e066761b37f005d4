package bus

import (
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/attune-go/attune/adapters/eventstore"
)

// decoded keeps the events this process has just decoded from messages, by event id, so that
// the handlers of one event share one decode: each handler gets its own message (its own
// queue's delivery, or in process its own copy), yet the envelope is unmarshalled once and the
// payload once (eventstore.Recorded.Shared), not once per handler each. What the process
// publishes itself is kept as it publishes it (seed): its own handlers then unmarshal nothing.
//
// The deliveries of one event to a process's handlers come together, so an entry is needed
// only for a moment: entries leave oldest first, once more than decodedMaxAge old or past
// decodedMaxEntries or decodedMaxBytes of payload. A later delivery (a redelivery, a backlog)
// simply decodes again. Only what decoded is kept; a malformed message fails every time.
type decoded struct {
	now func() time.Time

	mu    sync.Mutex
	byID  map[string]*decodedEntry
	order []*decodedEntry // oldest first, from head
	head  int
	bytes int
}

const (
	decodedMaxAge     = 2 * time.Second
	decodedMaxEntries = 1024
	decodedMaxBytes   = 16 << 20
)

type decodedEntry struct {
	id    string
	at    time.Time
	size  int
	once  sync.Once
	event eventstore.Recorded
	err   error
}

func newDecoded() *decoded {
	return &decoded{now: time.Now, byID: map[string]*decodedEntry{}}
}

// decode returns the event msg carries, decoded once for every delivery of it in this process
// while it is recent.
func (d *decoded) decode(msg *message.Message) (eventstore.Recorded, error) {
	d.mu.Lock()
	en, ok := d.byID[msg.UUID]
	if !ok {
		en = &decodedEntry{id: msg.UUID, at: d.now(), size: len(msg.Payload)}
		d.add(en)
	}
	d.mu.Unlock()
	en.once.Do(func() {
		e, err := Decode(msg)
		en.event, en.err = e.Shared(), err
		if err != nil {
			d.mu.Lock()
			d.remove(en)
			d.mu.Unlock()
		}
	})
	return en.event, en.err
}

// seed keeps an event this process publishes, already decoded: its handlers in this process
// (all of them, in process) then decode neither its envelope nor, if the publisher decoded it
// to route it, its payload.
func (d *decoded) seed(e eventstore.Recorded, size int) {
	en := &decodedEntry{id: e.ID.String(), size: size}
	en.once.Do(func() { en.event = e })
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.byID[en.id]; ok {
		return // published again: its handlers may already hold the first copy
	}
	en.at = d.now()
	d.add(en)
}

// add keeps en and lets the oldest entries go past the bounds. Called with mu held.
func (d *decoded) add(en *decodedEntry) {
	d.byID[en.id] = en
	d.order = append(d.order, en)
	d.bytes += en.size
	for d.head < len(d.order) {
		oldest := d.order[d.head]
		live := len(d.order) - d.head
		if live <= decodedMaxEntries && d.bytes <= decodedMaxBytes && en.at.Sub(oldest.at) < decodedMaxAge {
			break
		}
		d.remove(oldest)
		d.order[d.head] = nil
		d.head++
	}
	if d.head > len(d.order)/2 {
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
	}
}

// remove forgets en (it stays in order until it comes out, counted for nothing). Called with
// mu held.
func (d *decoded) remove(en *decodedEntry) {
	if d.byID[en.id] == en {
		delete(d.byID, en.id)
		d.bytes -= en.size
		en.size = 0
	}
}
