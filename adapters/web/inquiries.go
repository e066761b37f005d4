package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/projections/inquiries"
)

// inquiryTypes are the events that change the inquiry pages.
var inquiryTypes = strings.Join([]string{
	inquiry.InquiryCreated{}.EventType(), inquiry.InquiryResponded{}.EventType(),
	inquiry.InquiryTimedOut{}.EventType(), inquiry.InquiryCancelled{}.EventType(),
}, ",")

type inquiriesPage struct {
	Pending bool // the list shows pending inquiries only (the default)
	Items   []httpapi.Inquiry
	Next    string
	LiveURL string
}

// listInquiries lists the pending inquiries (?all=1: every one, newest first as the API
// lists them).
func (s *Server) listInquiries(w http.ResponseWriter, r *http.Request, ss session) error {
	q := r.URL.Query()
	page := inquiriesPage{Pending: q.Get("all") == "", LiveURL: "/api/v1/stream?type=" + inquiryTypes}
	f := inquiries.Filter{Cursor: q.Get("cursor"), Limit: 50}
	if page.Pending {
		f.Status = []inquiry.Status{inquiry.Pending}
	}
	if err := f.Validate(); err != nil {
		s.fail(w, r, ss, http.StatusBadRequest, err.Error())
		return nil
	}
	got, err := s.cfg.ListInquiries(r.Context(), f)
	if err != nil {
		return err
	}
	for _, x := range got.Items {
		page.Items = append(page.Items, httpapi.InquiryView(x))
	}
	if got.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", got.Next)
		page.Next = "/inquiries?" + nq.Encode()
	}
	s.render(w, r, http.StatusOK, "inquiries", ss, "Inquiries", page)
	return nil
}

type inquiryPage struct {
	Q         httpapi.Inquiry
	Open      bool   // pending and not past its deadline
	MayAnswer bool   // the session's token may answer it (the use case checks again)
	Who       string // who may answer, in words
	Form      answerForm
	Error     string // why the last answer was refused, when no field says
	Answered  bool   // the page follows an accepted answer (the read model may lag)
	LiveURL   string
}

func (s *Server) showInquiry(w http.ResponseWriter, r *http.Request, ss session) error {
	page, err := s.inquiryPage(r, ss)
	if err != nil || page == nil {
		return err
	}
	page.Form = formFor(page.Q.SchemaKind, page.Q.Schema)
	page.Answered = r.URL.Query().Get("answered") != ""
	s.render(w, r, http.StatusOK, "inquiry", ss, "Inquiry "+page.Q.ID, page)
	return nil
}

// inquiryPage reads the inquiry; nil (and a 404 page written) when there is none.
func (s *Server) inquiryPage(r *http.Request, ss session) (*inquiryPage, error) {
	id := r.PathValue("id")
	x, err := s.cfg.GetInquiry(r.Context(), id)
	if errors.Is(err, inquiries.ErrNotFound) {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound,
			Message: fmt.Sprintf("No inquiry %q (a new one may take a moment to appear).", id)}
	}
	if err != nil {
		return nil, err
	}
	q, err := inquiry.FromEvents([]event.Event{inquiry.InquiryCreated{InquiryID: x.ID, Roles: x.Roles, Tokens: x.Tokens, ExpiresAt: x.ExpiresAt}})
	if err != nil {
		return nil, fmt.Errorf("read inquiry %s: %w", id, err)
	}
	page := &inquiryPage{Q: httpapi.InquiryView(x), Who: q.Who(), LiveURL: "/api/v1/stream?type=" + inquiryTypes,
		Open: x.Status == inquiry.Pending && !q.Expired(s.cfg.Now())}
	page.MayAnswer = ss.open || q.MayAnswer(ss.principal.Name, func(least string) bool {
		need, err := auth.ParseRole(least)
		return err == nil && ss.principal.Role.Allows(need)
	})
	return page, nil
}

// respondInquiry posts the form's answer through the respond use case, as
// POST /api/v1/inquiries/{id}/respond does; a refusal shows beside the form.
func (s *Server) respondInquiry(w http.ResponseWriter, r *http.Request, ss session) error {
	page, err := s.inquiryPage(r, ss)
	if err != nil || page == nil {
		return err
	}
	page.Form = formFor(page.Q.SchemaKind, page.Q.Schema)
	answer, bad := page.Form.read(r.PostForm)
	if bad != nil {
		page.Form.blame(bad.Field, bad.Message)
		s.render(w, r, http.StatusBadRequest, "inquiry", ss, "Inquiry "+page.Q.ID, page)
		return nil
	}
	var principal *auth.Principal
	if !ss.open {
		principal = &ss.principal
	}
	if _, err := s.cfg.RespondInquiry(r.Context(), page.Q.ID, principal, ss.actor(), answer); err != nil {
		apiErr := s.classify(err)
		if apiErr == nil {
			return err
		}
		switch apiErr.Status {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusConflict:
		default:
			return err
		}
		if !page.Form.blame(apiErr.Field, apiErr.Message) {
			page.Error = apiErr.Message
		}
		s.render(w, r, apiErr.Status, "inquiry", ss, "Inquiry "+page.Q.ID, page)
		return nil
	}
	seeOther(w, r, "/inquiries/"+url.PathEscape(page.Q.ID)+"?answered=1")
	return nil
}

// classify maps a use case's error to the API's answer (nil when no classifier knows it).
func (s *Server) classify(err error) *httpapi.Error {
	var apiErr *httpapi.Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	if s.cfg.Classify != nil {
		return s.cfg.Classify(err)
	}
	return nil
}
