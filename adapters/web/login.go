package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/attune-go/attune/adapters/auth"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

type loginPage struct {
	Next  string
	Error string
}

// loginForm shows the form; an open dashboard (--no-auth) has nothing to log in to.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", session{}, "Log in", loginPage{Next: localPath(r.URL.Query().Get("next"))})
}

// loginSubject is the CSRF subject of the login form, which has no session yet.
const loginSubject = "login"

// login checks the token as the API would and keeps it in the cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := localPath(r.PostFormValue("next"))
	if err := s.checkPost(r, loginSubject); err != nil {
		s.fail(w, r, session{}, http.StatusForbidden, err.Error())
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		s.render(w, r, http.StatusUnprocessableEntity, "login", session{}, "Log in", loginPage{Next: next, Error: "Paste an API token (att_…)."})
		return
	}
	_, err := s.cfg.Auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrInvalidToken) {
		s.render(w, r, http.StatusUnauthorized, "login", session{}, "Log in", loginPage{Next: next, Error: "That token is not valid (unknown, revoked or expired)."})
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "dashboard login", "error", err)
		s.render(w, r, http.StatusInternalServerError, "login", session{}, "Log in", loginPage{Next: next, Error: "The token could not be checked; try again shortly."})
		return
	}
	setToken(w, r, token)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request) {
	ss, err := s.session(r)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "logout", ss, "Log out", nil)
}

// logout forgets the cookie. The token itself stays valid: it is the API's, and revoking it
// is `attune token revoke`.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ss, err := s.session(r)
	if err == nil {
		if err := s.checkPost(r, ss.csrfSubject()); err != nil {
			s.fail(w, r, ss, http.StatusForbidden, err.Error())
			return
		}
	}
	clearToken(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
