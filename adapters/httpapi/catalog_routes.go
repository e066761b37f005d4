package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/workers"
)

// registerCatalogRoutes serves the catalogue and pipeline read models: packs, actions,
// triggers, rules, trigger events, enforcements, workers and traces. Lists answer
// {"items": […], "next_cursor": …} in keyset pages like executions; unknown ids 404.
func (s *Server) registerCatalogRoutes() {
	c := s.cfg
	s.handle("GET /api/v1/packs", c.ListPacks != nil, s.listPacks)
	s.handle("GET /api/v1/packs/{ref}", c.GetPack != nil, s.getPack)
	s.handle("GET /api/v1/actions", c.ListComponents != nil, listComponents(s, pack.KindAction, ActionView))
	s.handle("GET /api/v1/actions/{ref}", c.GetComponent != nil, getComponent(s, pack.KindAction, ActionView))
	s.handle("GET /api/v1/triggers", c.ListComponents != nil, listComponents(s, pack.KindTrigger, TriggerView))
	s.handle("GET /api/v1/triggers/{ref}", c.GetComponent != nil, getComponent(s, pack.KindTrigger, TriggerView))
	s.handle("GET /api/v1/rules", c.ListComponents != nil, listComponents(s, pack.KindRule, RuleView))
	s.handle("GET /api/v1/rules/{ref}", c.GetComponent != nil, getComponent(s, pack.KindRule, RuleView))
	s.handle("GET /api/v1/events", c.ListTriggerEvents != nil, s.listTriggerEvents)
	s.handle("GET /api/v1/events/{id}", c.GetTriggerEvent != nil, s.getTriggerEvent)
	s.handle("GET /api/v1/enforcements", c.ListEnforcements != nil, s.listEnforcements)
	s.handle("GET /api/v1/enforcements/{id}", c.GetEnforcement != nil, s.getEnforcement)
	s.handle("GET /api/v1/workers", c.ListWorkers != nil, s.listWorkers)
	s.handle("GET /api/v1/traces/{event_id}", c.Trace != nil, s.trace)
}

// writePage answers one page of a list.
func writePage[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": cursor})
}

// params reads a list's query parameters, keeping the first problem for the answer.
type params struct {
	q   url.Values
	err error
}

func paramsOf(r *http.Request) *params { return &params{q: r.URL.Query()} }

func (p *params) str(name string) string { return p.q.Get(name) }

func (p *params) limit() int {
	v := p.q.Get("limit")
	if v == "" || p.err != nil {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		p.err = badRequest("limit", "limit %q: want a whole number of at least 1", v)
	}
	return n
}

func (p *params) time(name string) time.Time {
	v := p.q.Get(name)
	if v == "" || p.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.err = badRequest(name, "%s %q: want an RFC 3339 time like 2026-11-23T09:00:00Z", name, v)
	}
	return t
}

func (p *params) bool(name string) *bool {
	v := p.q.Get(name)
	if v == "" || p.err != nil {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.err = badRequest(name, "%s %q: want true or false", name, v)
		return nil
	}
	return &b
}

// check returns the first problem of the parameters, else the filter's own problems.
func (p *params) check(f interface{ Validate() error }) error {
	if p.err != nil {
		return p.err
	}
	if err := f.Validate(); err != nil {
		return badRequest("", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

func (s *Server) listPacks(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := catalog.PackFilter{IncludeRetired: derefBool(p.bool("include_retired")), Limit: p.limit(), Cursor: p.str("cursor")}
	if err := p.check(f); err != nil {
		return err
	}
	page, err := s.cfg.ListPacks(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Pack, 0, len(page.Items))
	for _, x := range page.Items {
		items = append(items, PackView(x))
	}
	writePage(w, items, page.Next)
	return nil
}

func (s *Server) getPack(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("ref")
	p, err := s.cfg.GetPack(r.Context(), ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return notFound("pack", ref)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PackView(p))
	return nil
}

// listComponents lists the components of one kind: filters pack, trigger (rules), action
// (rules), enabled (rules) and include_retired.
func listComponents[V any](s *Server, kind pack.Kind, view func(catalog.Component) (V, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := paramsOf(r)
		f := catalog.ComponentFilter{
			Kind: kind, Pack: p.str("pack"), IncludeRetired: derefBool(p.bool("include_retired")),
			Limit: p.limit(), Cursor: p.str("cursor"),
		}
		if kind == pack.KindRule {
			f.Trigger, f.Action, f.Enabled = p.str("trigger"), p.str("action"), p.bool("enabled")
		}
		if err := p.check(f); err != nil {
			return err
		}
		page, err := s.cfg.ListComponents(r.Context(), f)
		if err != nil {
			return err
		}
		items := make([]V, 0, len(page.Items))
		for _, c := range page.Items {
			v, err := view(c)
			if err != nil {
				return err
			}
			items = append(items, v)
		}
		writePage(w, items, page.Next)
		return nil
	}
}

func getComponent[V any](s *Server, kind pack.Kind, view func(catalog.Component) (V, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ref := r.PathValue("ref")
		c, err := s.cfg.GetComponent(r.Context(), kind, ref)
		if errors.Is(err, catalog.ErrNotFound) {
			return notFound(string(kind), ref)
		}
		if err != nil {
			return err
		}
		v, err := view(c)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

func (s *Server) listTriggerEvents(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := events.Filter{
		Trigger: p.str("trigger"), Source: trigger.Source(p.str("source")),
		Since: p.time("since"), Until: p.time("until"), Limit: p.limit(), Cursor: p.str("cursor"),
	}
	if err := p.check(f); err != nil {
		return err
	}
	page, err := s.cfg.ListTriggerEvents(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]TriggerEvent, 0, len(page.Items))
	for _, e := range page.Items {
		items = append(items, TriggerEventView(e))
	}
	writePage(w, items, page.Next)
	return nil
}

func (s *Server) getTriggerEvent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	e, err := s.cfg.GetTriggerEvent(r.Context(), id)
	if errors.Is(err, events.ErrNotFound) {
		return notFound("event", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TriggerEventView(e))
	return nil
}

func (s *Server) listEnforcements(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := enforcements.Filter{Rule: p.str("rule"), Event: p.str("event"), Limit: p.limit(), Cursor: p.str("cursor")}
	for _, v := range p.q["status"] {
		for _, one := range strings.Split(v, ",") {
			st, err := enforcements.ParseStatus(one)
			if err != nil {
				return badRequest("status", "%v", err)
			}
			f.Status = append(f.Status, st)
		}
	}
	if err := p.check(f); err != nil {
		return err
	}
	page, err := s.cfg.ListEnforcements(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Enforcement, 0, len(page.Items))
	for _, x := range page.Items {
		items = append(items, EnforcementView(x))
	}
	writePage(w, items, page.Next)
	return nil
}

func (s *Server) getEnforcement(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	x, err := s.cfg.GetEnforcement(r.Context(), id)
	if errors.Is(err, enforcements.ErrNotFound) {
		return notFound("enforcement", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, EnforcementView(x))
	return nil
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := workers.Filter{Status: workers.Status(p.str("status")), Limit: p.limit(), Cursor: p.str("cursor")}
	if err := p.check(f); err != nil {
		return err
	}
	page, err := s.cfg.ListWorkers(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Worker, 0, len(page.Items))
	for _, x := range page.Items {
		items = append(items, WorkerView(x))
	}
	writePage(w, items, page.Next)
	return nil
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("event_id")
	t, err := s.cfg.Trace(r.Context(), id)
	if errors.Is(err, causality.ErrNotFound) {
		return notFound("event", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TraceView(t))
	return nil
}

func derefBool(b *bool) bool { return b != nil && *b }
