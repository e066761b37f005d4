package web

import "net/http"

// page describes one page of the navigation: where it is, the API route it stands for (its
// role), and whether the dashboard was given what it needs to serve it.
type navPage struct {
	path, label, apiPattern string
	served                  bool
}

func (s *Server) navPages() []navPage {
	c := s.cfg
	return []navPage{
		{"/", "Overview", "GET /api/v1/executions", true},
		{"/executions", "Executions", "GET /api/v1/executions", true},
		{"/inquiries", "Inquiries", "GET /api/v1/inquiries", c.ListInquiries != nil && c.GetInquiry != nil},
		{"/rules", "Rules", "GET /api/v1/rules", c.ListComponents != nil},
		{"/packs", "Packs", "GET /api/v1/packs", c.ListPacks != nil && c.GetPack != nil && c.GetComponent != nil},
		{"/workers", "Workers", "GET /api/v1/workers", c.ListWorkers != nil},
		{"/policies", "Policies", "GET /api/v1/policies", c.ListPolicies != nil},
		{"/audit", "Audit", "GET /api/v1/stream", c.Head != nil},
	}
}

// nav lists the pages the session may see (a viewer sees no link to a page that refuses it).
func (s *Server) nav(ss session) []navLink {
	var out []navLink
	for _, p := range s.navPages() {
		if p.served && ss.may(p.apiPattern) {
			out = append(out, navLink{Path: p.path, Label: p.label})
		}
	}
	return out
}

// moreRoutes serves the pages beyond the executions: each only when its functions are given.
func (s *Server) moreRoutes() {
	c := s.cfg
	handle := func(pattern, apiPattern string, ok bool, h pageFunc) {
		if ok {
			s.mux.HandleFunc(pattern, s.page(apiPattern, h))
		}
	}
	inq := c.ListInquiries != nil && c.GetInquiry != nil
	handle("GET /inquiries", "GET /api/v1/inquiries", inq, s.listInquiries)
	handle("GET /inquiries/{id}", "GET /api/v1/inquiries/{id}", inq, s.showInquiry)
	handle("POST /inquiries/{id}/respond", "POST /api/v1/inquiries/{id}/respond", inq && c.RespondInquiry != nil, s.respondInquiry)

	handle("GET /rules", "GET /api/v1/rules", c.ListComponents != nil, s.listRules)
	handle("POST /rules/{ref}/enable", "POST /api/v1/rules/{ref}/enable", c.ListComponents != nil && c.SetRuleEnabled != nil, s.switchRule(true))
	handle("POST /rules/{ref}/disable", "POST /api/v1/rules/{ref}/disable", c.ListComponents != nil && c.SetRuleEnabled != nil, s.switchRule(false))
	handle("POST /rules/test", "POST /api/v1/rules/{ref}/test", c.ListComponents != nil && c.TestRule != nil, s.testRule)

	pk := c.ListPacks != nil && c.GetPack != nil && c.GetComponent != nil
	handle("GET /packs", "GET /api/v1/packs", pk, s.listPacks)
	handle("GET /packs/{ref}", "GET /api/v1/packs/{ref}", pk, s.showPack)
	handle("GET /workers", "GET /api/v1/workers", c.ListWorkers != nil, s.listWorkers)
	handle("GET /policies", "GET /api/v1/policies", c.ListPolicies != nil, s.listPolicies)
	// The audit page shows log positions, which the event stream (a viewer's) shows too.
	handle("GET /audit", "GET /api/v1/stream", c.Head != nil, s.audit)
}

// seeOther answers a form with a redirect to the page that shows its effect.
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}
