package httpapi

import (
	"encoding/json"
	"net/http"
)

func (s *Server) loadPack(w http.ResponseWriter, r *http.Request) error {
	var req PackLoadRequest
	if err := decodeBody(w, r, s.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Path == "" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Field: "path", Message: "path is required: the pack directory on the server's host"}
	}
	req.Actor = actor(r)
	res, err := s.cfg.LoadPack(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) deletePack(w http.ResponseWriter, r *http.Request) error {
	res, err := s.cfg.DeletePack(r.Context(), r.PathValue("ref"), actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) ruleEnabled(enabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ref := r.PathValue("ref")
		if err := s.cfg.SetRuleEnabled(r.Context(), ref, enabled, actor(r)); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"rule": ref, "enabled": enabled})
		return nil
	}
}

func (s *Server) testRule(w http.ResponseWriter, r *http.Request) error {
	var event json.RawMessage
	if err := decodeBody(w, r, s.cfg.MaxBody, &event); err != nil {
		return err
	}
	report, err := s.cfg.TestRule(r.Context(), r.PathValue("ref"), event)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report)
	return nil
}
