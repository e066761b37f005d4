package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the API's OpenAPI 3.1 description, written by hand next to the handlers
// and held to them by openapi_test.go: every route the router registers is in it, and the
// schemas of the main answers list exactly the JSON fields of the Go types they describe.
//
//go:embed openapi.json
var openAPIDocument []byte

// registerOpenAPIRoute serves the document at GET /api/v1/openapi.json, public: a client
// generator or an API explorer reads it before it holds a token.
func (s *Server) registerOpenAPIRoute() {
	s.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPIDocument) // the client went away: nothing left to tell it
	})
}
