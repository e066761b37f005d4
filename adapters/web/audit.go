package web

import (
	"maps"
	"net/http"
	"slices"

	"github.com/attune-go/attune/adapters/eventstore"
)

// The audit page: where the log's head is and where each reader of it (the relay and every
// projection) has got to, with /readyz's verdict on its lag, and how to verify and replay.
// Verifying reads every event and rebuilds every read model: that is `attune audit verify`'s
// work, run from a shell, not something a page load should start; the page says how.

type auditReader struct {
	Name       string
	Checkpoint string
	AtHead     bool
	// State is /readyz's check of the reader ("ok" or how far behind, or stalled).
	State string
}

type auditPage struct {
	Head    string
	Readers []auditReader
	// Others are /readyz's checks that are not readers (database, bus, roles).
	Others []readyCheck
	Ready  bool
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, ss session) error {
	head, err := s.cfg.Head(r.Context())
	if err != nil {
		return err
	}
	page := auditPage{Head: head.String(), Ready: true}
	checks := map[string]string{}
	if s.cfg.Ready != nil {
		page.Ready, checks = s.cfg.Ready(r.Context())
	}
	var cps map[string]eventstore.Position
	if s.cfg.Checkpoints != nil {
		if cps, err = s.cfg.Checkpoints(r.Context()); err != nil {
			return err
		}
	}
	for _, n := range slices.Sorted(maps.Keys(cps)) {
		cp := cps[n]
		page.Readers = append(page.Readers, auditReader{Name: n, Checkpoint: cp.String(), AtHead: !cp.Less(head), State: checks[n]})
	}
	for _, n := range slices.Sorted(maps.Keys(checks)) {
		if _, reader := cps[n]; !reader {
			page.Others = append(page.Others, readyCheck{Name: n, State: checks[n]})
		}
	}
	s.render(w, r, http.StatusOK, "audit", ss, "Audit", page)
	return nil
}
