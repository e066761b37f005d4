package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/projections/policies"
)

// Policy is the API's view of a policy: as registered, with the executions it holds now.
type Policy struct {
	Ref              string          `json:"ref"`
	Pack             string          `json:"pack"`
	Action           string          `json:"action"`
	Type             policy.Type     `json:"type"`
	Enabled          bool            `json:"enabled"`
	Description      string          `json:"description,omitempty"`
	Spec             json.RawMessage `json:"spec"`
	File             string          `json:"file,omitempty"`
	Running          int64           `json:"running"`
	Queued           int64           `json:"queued"`
	Delayed          int64           `json:"delayed"`
	Refused          int64           `json:"refused"`
	RetriesScheduled int64           `json:"retries_scheduled"`
	// Keys breaks the counts down by the values of the policy's attributes (get only).
	Keys      []PolicyKey `json:"keys,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	RetiredAt *time.Time  `json:"retired_at"`
}

// PolicyKey is the counts of one key of a policy.
type PolicyKey struct {
	Key     string `json:"key"`
	Running int64  `json:"running"`
	Queued  int64  `json:"queued"`
	Delayed int64  `json:"delayed"`
}

// PolicyView converts a read-model row for the API.
func PolicyView(v policies.View) Policy {
	spec := v.Spec
	if len(spec) == 0 {
		spec = json.RawMessage(`{}`)
	}
	out := Policy{
		Ref: v.Ref, Pack: v.Pack, Action: v.Action, Type: v.Type, Enabled: v.Enabled, Description: v.Description,
		Spec: spec, File: v.File, Running: v.Running, Queued: v.Queued, Delayed: v.Delayed, Refused: v.Refused,
		RetriesScheduled: v.RetriesScheduled, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC(),
		RetiredAt: optTime(v.RetiredAt),
	}
	for _, k := range v.Keys {
		out.Keys = append(out.Keys, PolicyKey{Key: k.Key, Running: k.Running, Queued: k.Queued, Delayed: k.Delayed})
	}
	return out
}

// registerPolicyRoutes serves the policies read model.
func (s *Server) registerPolicyRoutes() {
	s.handle("GET /api/v1/policies", s.cfg.ListPolicies != nil, s.listPolicies)
	s.handle("GET /api/v1/policies/{ref}", s.cfg.GetPolicy != nil, s.getPolicy)
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := policies.Filter{Pack: p.str("pack"), Action: p.str("action"), Type: policy.Type(p.str("type")),
		Limit: p.limit(), Cursor: p.str("cursor")}
	if f.Type != "" && p.err == nil {
		if _, err := policy.ParseType(string(f.Type)); err != nil {
			p.err = badRequest("type", "%s", err.Error())
		}
	}
	if err := p.check(f); err != nil {
		return err
	}
	page, err := s.cfg.ListPolicies(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Policy, 0, len(page.Items))
	for _, v := range page.Items {
		items = append(items, PolicyView(v))
	}
	writePage(w, items, page.Next)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("ref")
	v, err := s.cfg.GetPolicy(r.Context(), ref)
	if errors.Is(err, policies.ErrNotFound) {
		return notFound("policy", ref)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PolicyView(v))
	return nil
}
