package login

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Stable error codes of the login and hall HTTP APIs. Clients switch on the
// code; the message is for people.
const (
	CodeBadRequest          = "BAD_REQUEST"
	CodeInvalidAccountName  = "INVALID_ACCOUNT_NAME"
	CodeInvalidCredentials  = "INVALID_CREDENTIALS"
	CodeRateLimited         = "RATE_LIMITED"
	CodePresenceUnavailable = "PRESENCE_UNAVAILABLE"
	CodeMethodNotAllowed    = "METHOD_NOT_ALLOWED"
	CodeNotFound            = "NOT_FOUND"
	CodeTicketMissing       = "TICKET_MISSING"
	CodeTicketExpired       = "TICKET_EXPIRED"
	CodeTicketInvalid       = "TICKET_INVALID"
	CodeTicketAudience      = "TICKET_AUDIENCE" // a valid ticket for something else (403)
	CodeHallFull            = "HALL_FULL"
	CodeInternal            = "INTERNAL"
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError is a stable code and a human message.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterSeconds repeats the Retry-After header for 429 and 503.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
}

// WriteError answers status with a JSON ErrorBody.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	writeErr(w, status, APIError{Code: code, Message: msg})
}

// WriteRetryError answers status with a Retry-After header (whole seconds,
// at least 1) and the same figure in the body.
func WriteRetryError(w http.ResponseWriter, status int, code, msg string, after time.Duration) {
	s := int((after + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
	writeErr(w, status, APIError{Code: code, Message: msg, RetryAfterSeconds: s})
}

func writeErr(w http.ResponseWriter, status int, e APIError) {
	WriteJSON(w, status, ErrorBody{Error: e})
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
