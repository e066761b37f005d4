package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/attune-go/attune/adapters/auth"
)

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// CreatedToken answers POST /api/v1/tokens: the record and, this once, the token itself.
type CreatedToken struct {
	auth.Token
	Secret string `json:"token"`
}

// registerTokenRoutes adds token management (admin only, routeAccess). The CLI's
// `attune token` works on the database instead, so the first admin needs no server.
func (s *Server) registerTokenRoutes() {
	s.handle("GET /api/v1/tokens", s.cfg.ListTokens != nil, s.listTokens)
	s.handle("POST /api/v1/tokens", s.cfg.CreateToken != nil, s.createToken)
	s.handle("POST /api/v1/tokens/{id_or_name}/revoke", s.cfg.RevokeToken != nil, s.revokeToken)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	tokens, err := s.cfg.ListTokens(r.Context())
	if err != nil {
		return err
	}
	if tokens == nil {
		tokens = []auth.Token{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": tokens})
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if err := decodeBody(w, r, s.cfg.MaxBody, &req); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Field: "role", Message: err.Error()}
	}
	n := auth.NewToken{Name: req.Name, Role: role, Description: req.Description, CreatedBy: actor(r)}
	if req.ExpiresAt != nil {
		n.ExpiresAt = *req.ExpiresAt
	}
	tok, secret, err := s.cfg.CreateToken(r.Context(), n)
	if err != nil {
		return tokenError(err)
	}
	w.Header().Set("Cache-Control", "no-store") // the answer holds a secret
	writeJSON(w, http.StatusCreated, CreatedToken{Token: tok, Secret: secret})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.cfg.RevokeToken(r.Context(), r.PathValue("id_or_name"), actor(r))
	if err != nil {
		return tokenError(err)
	}
	writeJSON(w, http.StatusOK, tok)
	return nil
}

// tokenError answers the token store's errors.
func tokenError(err error) error {
	var field *auth.FieldError
	switch {
	case errors.As(err, &field):
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Field: field.Field, Message: err.Error()}
	case errors.Is(err, auth.ErrNameTaken):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "name", Message: err.Error()}
	case errors.Is(err, auth.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}
	}
	return err
}
