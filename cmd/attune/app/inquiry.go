package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/attune-go/attune/adapters/answerschema"
	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/inquiry"
	inquiries "github.com/attune-go/attune/handlers/inquiry"
)

// inquiryEngine is the inquiry engine (handlers/inquiry): stateless but for the log, so the
// handlers, the reaper and the API each build their own.
func (s *Server) inquiryEngine() *inquiries.Engine {
	return inquiries.New(inquiries.Config{Log: s.store, Due: s.models.DueInquiries, Logger: s.log})
}

// respondInquiry is the respond use case as the API calls it. The responder is the token's
// name; with access control off (--no-auth) there is no token, and the caller, trusted like
// every caller then, answers as an admin under the actor it names.
func (s *Server) respondInquiry(ctx context.Context, id string, p *auth.Principal, actor string, answer json.RawMessage) (httpapi.InquiryAnswer, error) {
	who := inquiries.Responder{Name: actor, Allows: func(string) bool { return true }}
	if p != nil {
		role := p.Role
		who = inquiries.Responder{Name: p.Name, Allows: func(least string) bool {
			need, err := auth.ParseRole(least)
			return err == nil && role.Allows(need)
		}}
	}
	a, err := s.inquiryEngine().Respond(ctx, id, who, answer)
	if err != nil {
		return httpapi.InquiryAnswer{}, err
	}
	return httpapi.InquiryAnswer{InquiryID: a.InquiryID, Status: inquiry.Responded, Responder: a.Responder, Response: a.Response}, nil
}

// classifyInquiry maps the respond use case's errors to API answers.
func classifyInquiry(err error) *httpapi.Error {
	var (
		bad    *answerschema.FieldError
		closed *inquiry.ClosedError
	)
	switch {
	case errors.Is(err, inquiries.ErrNotFound):
		return &httpapi.Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: err.Error()}
	case errors.Is(err, inquiry.ErrNotAllowed):
		return &httpapi.Error{Status: http.StatusForbidden, Code: httpapi.CodeForbidden, Message: err.Error()}
	case errors.As(err, &bad):
		return &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeInvalidAnswer, Field: bad.Field, Message: err.Error()}
	case errors.As(err, &closed):
		return &httpapi.Error{Status: http.StatusConflict, Code: httpapi.CodeInquiryClosed, Message: err.Error()}
	}
	return nil
}
