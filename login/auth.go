package login

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gamehall/gamehall/ticket"
)

// TicketFrom returns the ticket of a request: "Authorization: Bearer T",
// or the "ticket" query parameter (browsers cannot set headers on a
// WebSocket).
func TicketFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("ticket")
}

// Authenticate verifies the request's ticket for audience aud (or any of
// also) and answers 401 with a specific code if it is missing, expired or
// invalid, 403 if it is for another audience (a player's ticket at an
// operator's endpoint).
func Authenticate(w http.ResponseWriter, r *http.Request, v ticket.Verifier, aud ticket.Audience, also ...ticket.Audience) (ticket.Claims, bool) {
	tok := TicketFrom(r)
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gamehall"`)
		WriteError(w, http.StatusUnauthorized, CodeTicketMissing, "send the login ticket as 'Authorization: Bearer <ticket>'")
		return ticket.Claims{}, false
	}
	c, err := v.Verify(tok, aud)
	for _, a := range also {
		if !errors.Is(err, ticket.ErrAudience) {
			break
		}
		c, err = v.Verify(tok, a)
	}
	switch {
	case err == nil:
		return c, true
	case errors.Is(err, ticket.ErrAudience):
		WriteError(w, http.StatusForbidden, CodeTicketAudience, err.Error())
	case errors.Is(err, ticket.ErrExpired):
		WriteError(w, http.StatusUnauthorized, CodeTicketExpired, err.Error()+"; log in again")
	default:
		WriteError(w, http.StatusUnauthorized, CodeTicketInvalid, err.Error())
	}
	return ticket.Claims{}, false
}
