package login

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gamehall/gamehall/ticket"
)

// TicketProtocolPrefix: a browser, which cannot set headers on a
// WebSocket, offers the subprotocol TicketProtocolPrefix+ticket beside the
// stream's own (the server answers with the stream's, never this one).
// Tickets never travel in URLs, which proxies and servers log and redirects
// copy.
const TicketProtocolPrefix = "gamehall.ticket."

// TicketHeader carries the ticket for clients behind a proxy that consumes
// Authorization itself (the Kubernetes API server's service proxy, which
// kubectl-gamehall goes through).
const TicketHeader = "X-Gamehall-Ticket"

// TicketFrom returns the ticket of a request: "Authorization: Bearer T",
// TicketHeader, or a Sec-WebSocket-Protocol entry TicketProtocolPrefix+T.
func TicketFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if t := r.Header.Get(TicketHeader); t != "" {
		return strings.TrimSpace(t)
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if t, ok := strings.CutPrefix(strings.TrimSpace(p), TicketProtocolPrefix); ok {
				return t
			}
		}
	}
	return ""
}

// missingTicket says where a ticket goes; one in the URL is named.
func missingTicket(r *http.Request) string {
	if r.URL.Query().Has("ticket") {
		return "tickets are not accepted in URLs (they end up in logs and redirects): send 'Authorization: Bearer <ticket>', or on a WebSocket the subprotocol " + TicketProtocolPrefix + "<ticket>"
	}
	return "send the login ticket as 'Authorization: Bearer <ticket>' (on a WebSocket from a browser: the subprotocol " + TicketProtocolPrefix + "<ticket>)"
}

// Authenticate verifies the request's ticket for audience aud (or any of
// also) and answers 401 with a specific code if it is missing, expired or
// invalid, 403 if it is for another audience (a player's ticket at an
// operator's endpoint).
func Authenticate(w http.ResponseWriter, r *http.Request, v ticket.Verifier, aud ticket.Audience, also ...ticket.Audience) (ticket.Claims, bool) {
	tok := TicketFrom(r)
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gamehall"`)
		WriteError(w, http.StatusUnauthorized, CodeTicketMissing, missingTicket(r))
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
