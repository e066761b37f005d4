package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/catalog"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/workers"
)

type packsPage struct {
	Items []httpapi.Pack
	Next  string
}

func (s *Server) listPacks(w http.ResponseWriter, r *http.Request, ss session) error {
	q := r.URL.Query()
	f := catalog.PackFilter{Cursor: q.Get("cursor"), Limit: 100, IncludeRetired: q.Get("retired") != ""}
	if err := f.Validate(); err != nil {
		return badQuery(err)
	}
	got, err := s.cfg.ListPacks(r.Context(), f)
	if err != nil {
		return err
	}
	var page packsPage
	for _, p := range got.Items {
		page.Items = append(page.Items, httpapi.PackView(p))
	}
	if got.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", got.Next)
		page.Next = "/packs?" + nq.Encode()
	}
	s.render(w, r, http.StatusOK, "packs", ss, "Packs", page)
	return nil
}

// packComponent is one component of a pack as registered: its definition (schemas
// included) and, where it has one, its source file and that file's digest.
type packComponent struct {
	Kind       pack.Kind
	Ref        string
	File       string // the entry point (actions, sensors) or the component's file
	Digest     string // sha256 of the entry point as loaded
	Definition json.RawMessage
	Retired    bool
}

type packPage struct {
	P          httpapi.Pack
	Components []packComponent
}

func (s *Server) showPack(w http.ResponseWriter, r *http.Request, ss session) error {
	ref := r.PathValue("ref")
	p, err := s.cfg.GetPack(r.Context(), ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: fmt.Sprintf("No pack %q.", ref)}
	}
	if err != nil {
		return err
	}
	page := packPage{P: httpapi.PackView(p)}
	for _, c := range p.Components {
		row, err := s.cfg.GetComponent(r.Context(), c.Kind, c.Ref)
		if errors.Is(err, catalog.ErrNotFound) {
			continue // retired between the two reads
		}
		if err != nil {
			return err
		}
		pc := packComponent{Kind: row.Kind, Ref: row.Ref, Definition: row.Definition, Retired: row.Retired()}
		var src struct {
			EntryPoint string `json:"entry_point"`
			SHA256     string `json:"entry_point_sha256"`
			File       string `json:"file"`
		}
		if len(row.Definition) > 0 {
			if err := json.Unmarshal(row.Definition, &src); err != nil {
				return fmt.Errorf("decode %s %s as registered: %w", row.Kind, row.Ref, err)
			}
		}
		pc.File, pc.Digest = cmpOr(src.EntryPoint, src.File), src.SHA256
		page.Components = append(page.Components, pc)
	}
	s.render(w, r, http.StatusOK, "pack", ss, "Pack "+p.Ref, page)
	return nil
}

type workersPage struct {
	Items []httpapi.Worker
	Next  string
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request, ss session) error {
	q := r.URL.Query()
	f := workers.Filter{Status: workers.Status(q.Get("status")), Cursor: q.Get("cursor"), Limit: 100}
	if err := f.Validate(); err != nil {
		return badQuery(err)
	}
	got, err := s.cfg.ListWorkers(r.Context(), f)
	if err != nil {
		return err
	}
	var page workersPage
	for _, x := range got.Items {
		page.Items = append(page.Items, httpapi.WorkerView(x))
	}
	if got.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", got.Next)
		page.Next = "/workers?" + nq.Encode()
	}
	s.render(w, r, http.StatusOK, "workers", ss, "Workers", page)
	return nil
}

type policiesPage struct {
	Items []httpapi.Policy
	Next  string
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request, ss session) error {
	q := r.URL.Query()
	f := policies.Filter{Cursor: q.Get("cursor"), Limit: 100}
	if err := f.Validate(); err != nil {
		return badQuery(err)
	}
	got, err := s.cfg.ListPolicies(r.Context(), f)
	if err != nil {
		return err
	}
	var page policiesPage
	for _, v := range got.Items {
		page.Items = append(page.Items, httpapi.PolicyView(v))
	}
	if got.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", got.Next)
		page.Next = "/policies?" + nq.Encode()
	}
	s.render(w, r, http.StatusOK, "policies", ss, "Policies", page)
	return nil
}

func badQuery(err error) error {
	return &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeBadRequest, Message: err.Error()}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
