package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/projections/inquiries"
)

// Codes of the inquiry routes.
const (
	// CodeInvalidAnswer: the answer breaks the inquiry's schema (400); field is the JSON
	// Pointer of the offending value in the answer.
	CodeInvalidAnswer = "invalid_answer"
	// CodeInquiryClosed: the inquiry was answered already, timed out or was cancelled (409).
	CodeInquiryClosed = "inquiry_closed"
)

// RespondInquiryFunc records answer as given by the caller: principal is the authenticated
// token (nil with access control off), actor its name (or the X-Attune-Actor header).
type RespondInquiryFunc func(ctx context.Context, id string, principal *auth.Principal, actor string, answer json.RawMessage) (InquiryAnswer, error)

// Inquiry is the API's view of an inquiry.
type Inquiry struct {
	ID                string             `json:"id"`
	ExecutionID       string             `json:"execution_id"`
	ParentExecutionID string             `json:"parent_execution_id,omitempty"`
	Task              string             `json:"task,omitempty"`
	Route             string             `json:"route,omitempty"`
	Schema            json.RawMessage    `json:"schema"`
	SchemaKind        inquiry.SchemaKind `json:"schema_kind"`
	Roles             []string           `json:"roles"`
	Tokens            []string           `json:"tokens"`
	TTLSeconds        int                `json:"ttl"`
	Status            inquiry.Status     `json:"status"`
	Responder         string             `json:"responder,omitempty"`
	Response          json.RawMessage    `json:"response"`
	Reason            string             `json:"reason,omitempty"`
	CreatedAt         time.Time          `json:"created_at"`
	ExpiresAt         time.Time          `json:"expires_at"`
	RespondedAt       *time.Time         `json:"responded_at"`
}

// InquiryAnswer is what POST /api/v1/inquiries/{id}/respond answers: the answer as recorded
// (a flat schema's defaults applied).
type InquiryAnswer struct {
	InquiryID string          `json:"inquiry_id"`
	Status    inquiry.Status  `json:"status"`
	Responder string          `json:"responder"`
	Response  json.RawMessage `json:"response"`
}

// InquiryView converts a read-model row for the API.
func InquiryView(x inquiries.Inquiry) Inquiry {
	orEmpty := func(xs []string) []string {
		if xs == nil {
			return []string{}
		}
		return xs
	}
	return Inquiry{
		ID: x.ID, ExecutionID: x.ExecutionID, ParentExecutionID: x.ParentExecutionID, Task: x.Task, Route: x.Route,
		Schema: x.Schema, SchemaKind: x.SchemaKind, Roles: orEmpty(x.Roles), Tokens: orEmpty(x.Tokens),
		TTLSeconds: x.TTLSeconds, Status: x.Status, Responder: x.Responder, Response: orJSON(x.Response, `null`),
		Reason: x.Reason, CreatedAt: x.CreatedAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(), RespondedAt: optTime(x.RespondedAt),
	}
}

func (s *Server) registerInquiryRoutes() {
	s.handle("GET /api/v1/inquiries", s.cfg.ListInquiries != nil, s.listInquiries)
	s.handle("GET /api/v1/inquiries/{id}", s.cfg.GetInquiry != nil, s.getInquiry)
	s.handle("POST /api/v1/inquiries/{id}/respond", s.cfg.RespondInquiry != nil, s.respondInquiry)
}

func (s *Server) listInquiries(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := inquiries.Filter{Parent: p.str("parent"), Limit: p.limit(), Cursor: p.str("cursor")}
	for _, v := range p.q["status"] {
		for _, one := range strings.Split(v, ",") {
			st, err := inquiry.ParseStatus(one)
			if err != nil {
				return badRequest("status", "%v", err)
			}
			f.Status = append(f.Status, st)
		}
	}
	if err := p.check(f); err != nil {
		return err
	}
	page, err := s.cfg.ListInquiries(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]Inquiry, 0, len(page.Items))
	for _, x := range page.Items {
		items = append(items, InquiryView(x))
	}
	writePage(w, items, page.Next)
	return nil
}

func (s *Server) getInquiry(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	x, err := s.cfg.GetInquiry(r.Context(), id)
	if errors.Is(err, inquiries.ErrNotFound) {
		return notFound("inquiry", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, InquiryView(x))
	return nil
}

func (s *Server) respondInquiry(w http.ResponseWriter, r *http.Request) error {
	var answer json.RawMessage
	if err := decodeBody(w, r, s.cfg.MaxBody, &answer); err != nil {
		return err
	}
	var principal *auth.Principal
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		principal = &p
	}
	out, err := s.cfg.RespondInquiry(r.Context(), r.PathValue("id"), principal, actor(r), answer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
