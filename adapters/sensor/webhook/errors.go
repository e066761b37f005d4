package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/attune-go/attune/adapters/safetext"
)

// Code is a stable, machine-readable reason a webhook was refused. Clients branch on it; the
// message is for people and may change.
type Code string

// The codes of the webhook endpoint.
const (
	CodeInvalidJSON     Code = "invalid_json"           // the body is not one JSON object
	CodeValidation      Code = "validation_failed"      // the payload does not fit the trigger's payload_schema
	CodeBadSignature    Code = "bad_signature"          // X-Attune-Signature missing or wrong
	CodeUnknownTrigger  Code = "unknown_trigger"        // no such trigger, or not a webhook trigger
	CodePayloadTooLarge Code = "payload_too_large"      // the body passes the size cap
	CodeInternal        Code = "internal_error"         // the trigger lookup or the store failed
	CodeInvalidText     Code = safetext.CodeInvalidText // a NUL or invalid UTF-8 in the body
	CodeTooLong         Code = safetext.CodeTooLong     // a field over the limit of a read model's index
	CodeStaleSignature  Code = "stale_signature"        // the signed timestamp is over 5 minutes off
	CodeReplayed        Code = "replayed"               // this signature was accepted before
	CodeRateLimited     Code = "rate_limited"           // over the trigger's rate limit (Retry-After)
	CodeForbiddenSource Code = "forbidden_source"       // the caller's address is not in allow_from
	CodeBadRequest      Code = "bad_request"            // a header is malformed (Idempotency-Key)
	// CodeIdempotencyKeyReused: the Idempotency-Key was first sent with another body.
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
)

// Status is the HTTP status of a code: the one place the two are tied.
func (c Code) Status() int {
	switch c {
	case CodeInvalidJSON, CodeInvalidText, CodeTooLong, CodeBadRequest:
		return http.StatusBadRequest
	case CodeValidation, CodeIdempotencyKeyReused:
		return http.StatusUnprocessableEntity
	case CodeBadSignature, CodeStaleSignature:
		return http.StatusUnauthorized
	case CodeReplayed:
		return http.StatusConflict
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeForbiddenSource:
		return http.StatusForbidden
	case CodeUnknownTrigger:
		return http.StatusNotFound
	case CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// Error is a refused webhook, as the response body carries it.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"` // the payload field at fault (validation_failed)
	// RetryAfter is the Retry-After of a rate_limited answer, in seconds.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

func refuse(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError answers with err's code and status; text the log's guard refused answers as
// the body check would have; anything else is internal and its text stays in the log, not in
// the answer.
func writeError(w http.ResponseWriter, err error) {
	var (
		e   *Error
		bad *safetext.Error
	)
	switch {
	case errors.As(err, &e):
	case errors.As(err, &bad):
		e = &Error{Code: Code(bad.Code), Message: bad.Error(), Field: bad.Field}
	default:
		e = &Error{Code: CodeInternal, Message: "the event could not be recorded; see the server log"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Code.Status(), e)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client hung up: nothing left to tell it
}
