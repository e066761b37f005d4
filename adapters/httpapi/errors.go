package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/attune-go/attune/adapters/safetext"
)

// Error is what every failed request answers: a stable machine-readable code, a message for
// people, and where it applies (a JSON field path or a parameter name).
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Codes callers branch on. They are part of the API: never rename one.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeUnknownField     = "unknown_field"
	CodeBadRequest       = "bad_request"
	CodeValidation       = "validation_failed"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodePayloadTooLarge  = "payload_too_large"
	CodeInternal         = "internal"
	CodeUnavailable      = "unavailable"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInvalidText      = safetext.CodeInvalidText // a NUL or invalid UTF-8 (400)
	CodeTooLong          = safetext.CodeTooLong     // over the limit of an indexed field (400)
	// CodeIdempotencyKeyReused: the Idempotency-Key was first sent with another body (422).
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	// The workflow pause and resume refusals (409), domain/workflow's Refusal codes: the
	// execution is no workflow run; it is not running (requested, canceling, ended); it is
	// not paused; only a child waiting for an answer holds it.
	CodeNotAWorkflow     = "not_a_workflow"
	CodeNotRunning       = "not_running"
	CodeNotPaused        = "not_paused"
	CodeWaitingForAnswer = "waiting_for_answer"
	// CodeNotFinished: a workflow is re-run from a task only once it has ended (409).
	CodeNotFinished = "not_finished"
)

// Classifier lets a use case package tell the API how to answer its errors, keeping the
// mapping in this one place: it returns nil for errors it does not know.
type Classifier func(err error) *Error

// writeError answers err: an *Error as is, otherwise through the classifiers, otherwise 500
// (logged, with a message that leaks nothing internal).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		for _, c := range s.cfg.Classifiers {
			if apiErr = c(err); apiErr != nil {
				break
			}
		}
	}
	if apiErr == nil {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		apiErr = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; the server log has the details"}
	}
	writeJSON(w, apiErr.Status, apiErr)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing left to tell it
}

// decodeBody reads one JSON object into v, rejecting unknown fields, trailing data and bodies
// over the limit, with errors that name the field. Then it refuses text a read model cannot
// hold (textError): decoding into a Go string would have turned invalid UTF-8 into U+FFFD
// silently, so the raw bytes are what is checked.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return bodyError(err, limit)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "request body holds more than one JSON value"}
	}
	if bad := safetext.JSON(raw, "", requestLimit); bad != nil {
		return textError(bad)
	}
	return nil
}

// requestLimit bounds the request fields that end up in an indexed column of a read model.
func requestLimit(path []string) int {
	if len(path) == 1 && path[0] == "trace_tag" {
		return safetext.MaxTraceTagBytes
	}
	return 0
}

// textError answers text a read model cannot hold (a NUL, invalid UTF-8, an over-long
// indexed field), whether the API's own decoding or the log's guard found it: 400 with the
// code and the field's JSON Pointer.
func textError(e *safetext.Error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: e.Code, Field: e.Field, Message: e.Error()}
}

// TextError is textError for the classifiers of the composition root: the guard before the
// log refuses the same text with the same answer.
func TextError(e *safetext.Error) *Error { return textError(e) }

// checkURL refuses a path or query holding a NUL or invalid UTF-8 before any route sees it:
// PostgreSQL refuses such text as a query argument, which would answer 500.
func checkURL(r *http.Request) *Error {
	if bad := safetext.String("path", r.URL.Path, 0); bad != nil {
		return textError(bad)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("", "query string: %v", err)
	}
	for k, vs := range q {
		if bad := safetext.String(k, k, 0); bad != nil {
			return textError(&safetext.Error{Field: "query", Code: bad.Code, Reason: "parameter name: " + bad.Reason})
		}
		for _, v := range vs {
			if bad := safetext.String(k, v, 0); bad != nil {
				return textError(bad)
			}
		}
	}
	return nil
}

func bodyError(err error, limit int64) error {
	var (
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
	case errors.Is(err, io.EOF):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "request body is empty; want a JSON object"}
	case errors.As(err, &syntax):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Field: field, Message: fmt.Sprintf("field %q: want %s, got JSON %s", field, typeErr.Type, typeErr.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Status: http.StatusBadRequest, Code: CodeUnknownField, Field: field, Message: fmt.Sprintf("unknown field %q", field)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "request body ends in the middle of a JSON value"}
	default:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: err.Error()}
	}
}

func notFound(what, id string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("%s %q not found", what, id)}
}

func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}
