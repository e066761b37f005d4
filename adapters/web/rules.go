package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/projections/catalog"
)

// ruleTypes are the events that change the rules page: a switch, or a pack (re)loaded.
var ruleTypes = strings.Join([]string{
	rule.RuleEnabled{}.EventType(), rule.RuleDisabled{}.EventType(), pack.PackRegistered{}.EventType(),
}, ",")

type rulesPage struct {
	Items   []httpapi.Rule
	Next    string
	LiveURL string
	// Switched names the rule a switch was just recorded for (the list may lag behind it).
	Switched, SwitchedTo string
	Test                 ruleTest
	// HasSwitch and HasTest: the dashboard was given the use cases (the role decides too).
	HasSwitch, HasTest bool
}

// ruleTest is the test form and, once posted, what the rule test use case said.
type ruleTest struct {
	Rule    string
	Event   string
	Error   string
	Report  *ruleReport
	Shown   bool // the form was posted
	Example string
}

// ruleReport is the rule test's report as the API answers it (POST /api/v1/rules/{ref}/test).
type ruleReport struct {
	Rule        string          `json:"rule"`
	Trigger     string          `json:"trigger"`
	Action      string          `json:"action"`
	Enabled     bool            `json:"enabled"`
	Matched     bool            `json:"matched"`
	Checks      []ruleCheck     `json:"checks"`
	Parameters  json.RawMessage `json:"parameters"`
	RenderError string          `json:"render_error"`
}

type ruleCheck struct {
	Path   string `json:"path"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func (s *Server) rulesPage(r *http.Request) (rulesPage, error) {
	q := r.URL.Query()
	page := rulesPage{LiveURL: "/api/v1/stream?type=" + ruleTypes, Switched: q.Get("switched"), SwitchedTo: q.Get("to"),
		HasSwitch: s.cfg.SetRuleEnabled != nil, HasTest: s.cfg.TestRule != nil}
	f := catalog.ComponentFilter{Kind: pack.KindRule, Cursor: q.Get("cursor"), Limit: 100}
	if err := f.Validate(); err != nil {
		return page, &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeBadRequest, Message: err.Error()}
	}
	got, err := s.cfg.ListComponents(r.Context(), f)
	if err != nil {
		return page, err
	}
	for _, c := range got.Items {
		v, err := httpapi.RuleView(c)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, v)
	}
	if got.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", got.Next)
		page.Next = "/rules?" + nq.Encode()
	}
	page.Test.Example = `{"payload": {}}`
	return page, nil
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request, ss session) error {
	page, err := s.rulesPage(r)
	if err != nil {
		return err
	}
	page.Test.Rule = r.URL.Query().Get("test")
	s.render(w, r, http.StatusOK, "rules", ss, "Rules", page)
	return nil
}

// switchRule enables or disables a rule through the same use case as
// POST /api/v1/rules/{ref}/enable and …/disable.
func (s *Server) switchRule(enabled bool) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, ss session) error {
		ref := r.PathValue("ref")
		if err := s.cfg.SetRuleEnabled(r.Context(), ref, enabled, ss.actor()); err != nil {
			return err
		}
		to := "disabled"
		if enabled {
			to = "enabled"
		}
		seeOther(w, r, "/rules?"+url.Values{"switched": {ref}, "to": {to}}.Encode())
		return nil
	}
}

// testRule tries a rule on a pasted event through the rule test use case (POST
// /api/v1/rules/{ref}/test) and shows its per-criterion report under the list.
func (s *Server) testRule(w http.ResponseWriter, r *http.Request, ss session) error {
	page, err := s.rulesPage(r)
	if err != nil {
		return err
	}
	t := &page.Test
	t.Shown, t.Rule, t.Event = true, strings.TrimSpace(r.PostFormValue("rule")), r.PostFormValue("event")
	status := http.StatusOK
	switch raw := strings.TrimSpace(t.Event); {
	case t.Rule == "":
		t.Error, status = "Choose the rule to test.", http.StatusBadRequest
	case !json.Valid([]byte(raw)):
		t.Error, status = "The event is not valid JSON: paste an event ({\"payload\": {…}}) or its payload.", http.StatusBadRequest
	default:
		out, err := s.cfg.TestRule(r.Context(), t.Rule, json.RawMessage(raw))
		if err != nil {
			apiErr := s.classify(err)
			if apiErr == nil || apiErr.Status >= 500 {
				return err
			}
			t.Error, status = apiErr.Message, apiErr.Status
			break
		}
		b, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("read the rule test's report: %w", err)
		}
		t.Report = &ruleReport{}
		if err := json.Unmarshal(b, t.Report); err != nil {
			return fmt.Errorf("read the rule test's report: %w", err)
		}
	}
	s.render(w, r, status, "rules", ss, "Rules", page)
	return nil
}
