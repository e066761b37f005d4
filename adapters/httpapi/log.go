package httpapi

import (
	"net/http"
	"strconv"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Page sizes of GET /api/v1/log.
const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
)

// LogPage is one page of the raw global log. NextCursor is the position of the last item
// when more may follow, and null once the page reached the head of the log: an auditor
// following the log then polls again after the last item's position.
type LogPage struct {
	Items      []Envelope `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// readLog serves GET /api/v1/log?after=CURSOR&limit=N: the log in cursor order, every event
// of every stream, for auditors who replay or verify it elsewhere.
func (s *Server) readLog(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, err := eventstore.ParsePosition(q.Get("after"))
	if err != nil {
		return badRequest("after", "after %q: want a cursor MAJOR-MINOR, as next_cursor or an event's position gives it", q.Get("after"))
	}
	limit := defaultLogLimit
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > maxLogLimit {
			return badRequest("limit", "limit %q: want a whole number from 1 to %d", v, maxLogLimit)
		}
	}
	events, err := s.cfg.ReadAll(r.Context(), after, limit)
	if err != nil {
		return err
	}
	page := LogPage{Items: make([]Envelope, 0, len(events))}
	for _, e := range events {
		page.Items = append(page.Items, EnvelopeOf(e))
	}
	// A short page means nothing more is visible now; a full one may have more behind it.
	if len(events) == limit {
		next := events[len(events)-1].Position.String()
		page.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
