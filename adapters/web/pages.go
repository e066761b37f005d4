package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one template set per page, each the layout plus the page's own file.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return fmt.Sprint(t)
	},
	"took": func(from, to *time.Time) string {
		if from == nil {
			return "—"
		}
		end := time.Now()
		if to != nil {
			end = *to
		}
		return end.Sub(*from).Round(time.Millisecond).String()
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if len(raw) == 0 {
			return "null"
		}
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return string(raw)
		}
		return b.String()
	},
	"terminal": func(s execution.Status) bool { return s.Terminal() },
	"liveURL":  func() string { return "/api/v1/stream?type=" + liveTypes },
}

func mustParse() *pages {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
		p.byName[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return p
}

// view is what every page's template gets.
type view struct {
	Title   string
	Session session
	CSRF    string
	Path    string
	Query   string // the request's raw query, for the live region to fetch the same page
	// Can answers which API routes (patterns) the session may use: it hides the buttons
	// that would fail.
	Can  func(apiPattern string) bool
	Page any
	// Nav lists the pages this dashboard serves and the session may see.
	Nav []navLink
}

type navLink struct{ Path, Label string }

// Open says the dashboard has no access control (--no-auth).
func (v view) Open() bool { return v.Session.open }

// User names the session for the header ("" when open).
func (v view) User() string {
	if v.Session.open || v.Session.token == "" {
		return ""
	}
	return v.Session.principal.Name + " (" + v.Session.principal.Role.String() + ")"
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, ss session, title string, data any) {
	t, ok := s.pages.byName[name]
	if !ok {
		panic("web: no template " + name) // a programmer error
	}
	v := view{Title: title, Session: ss, CSRF: s.csrfToken(ss.csrfSubject()), Path: r.URL.Path, Query: r.URL.RawQuery, Can: ss.may, Page: data, Nav: s.nav(ss)}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		s.log.ErrorContext(r.Context(), "render dashboard page", "page", name, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// problem is an error page's content.
type problem struct {
	Status  int
	Message string
	Login   bool
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, ss session, status int, msg string) {
	s.render(w, r, status, "error", ss, http.StatusText(status), problem{Status: status, Message: msg, Login: status == http.StatusUnauthorized})
}

// pageFunc serves one page for an authenticated session allowed to see it.
type pageFunc func(w http.ResponseWriter, r *http.Request, ss session) error

// page guards h with the role of the API route it stands for and, on POST, the CSRF checks.
func (s *Server) page(apiPattern string, h pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := s.session(r)
		if errors.Is(err, errLogin) {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, ss, http.StatusUnauthorized, "Your session has ended: log in again.")
			return
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "dashboard session", "error", err)
			s.fail(w, r, ss, http.StatusInternalServerError, "The token could not be checked; try again shortly.")
			return
		}
		if !ss.may(apiPattern) {
			role, _ := httpapi.RouteAccess(apiPattern)
			s.fail(w, r, ss, http.StatusForbidden, fmt.Sprintf("This needs the %s role; your token %q has role %s.", role, ss.principal.Name, ss.principal.Role))
			return
		}
		if r.Method == http.MethodPost {
			if err := s.checkPost(r, ss.csrfSubject()); err != nil {
				s.fail(w, r, ss, http.StatusForbidden, err.Error())
				return
			}
		}
		if err := h(w, r, ss); err != nil {
			s.pageError(w, r, ss, err)
		}
	}
}

// pageError answers a use case's or read model's error as the API would: its status and
// message, through the app's classifiers.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, ss session, err error) {
	if apiErr := s.classify(err); apiErr != nil && apiErr.Status != 0 {
		s.fail(w, r, ss, apiErr.Status, apiErr.Message)
		return
	}
	s.log.ErrorContext(r.Context(), "dashboard page failed", "path", r.URL.Path, "error", err)
	s.fail(w, r, ss, http.StatusInternalServerError, "Something went wrong; the server's log says what.")
}

func (s *Server) routes() {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})))
	s.mux.HandleFunc("GET /login", s.loginForm)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("GET /logout", s.logoutForm)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("GET /{$}", s.page("GET /api/v1/executions", s.overview))
	s.mux.HandleFunc("GET /executions", s.page("GET /api/v1/executions", s.listExecutions))
	s.mux.HandleFunc("GET /executions/{id}", s.page("GET /api/v1/executions/{id}", s.showExecution))
	if s.cfg.CancelExecution != nil {
		s.mux.HandleFunc("POST /executions/{id}/cancel", s.page("POST /api/v1/executions/{id}/cancel", s.cancel))
	}
	if s.cfg.PauseExecution != nil {
		s.mux.HandleFunc("POST /executions/{id}/pause", s.page("POST /api/v1/executions/{id}/pause", s.hold(s.cfg.PauseExecution)))
	}
	if s.cfg.ResumeExecution != nil {
		s.mux.HandleFunc("POST /executions/{id}/resume", s.page("POST /api/v1/executions/{id}/resume", s.hold(s.cfg.ResumeExecution)))
	}
	if s.cfg.RerunExecution != nil {
		s.mux.HandleFunc("POST /executions/{id}/rerun", s.page("POST /api/v1/executions/{id}/rerun", s.rerun))
	}
	s.moreRoutes()
	s.mux.HandleFunc("/", s.page("GET /api/v1/executions", func(w http.ResponseWriter, r *http.Request, ss session) error {
		s.fail(w, r, ss, http.StatusNotFound, "No page at "+r.URL.Path+".")
		return nil
	}))
}
