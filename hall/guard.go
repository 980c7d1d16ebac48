package hall

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
)

// guard checks method and ticket, and redirects when over max clients.
func (h *Server) guard(w http.ResponseWriter, r *http.Request, newClient bool) bool {
	_, ok := h.guardClaims(w, r, newClient)
	return ok
}

// guardClaims is guard answering the ticket's claims.
func (h *Server) guardClaims(w http.ResponseWriter, r *http.Request, newClient bool) (ticket.Claims, bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		login.WriteError(w, http.StatusMethodNotAllowed, login.CodeMethodNotAllowed, "use GET")
		return ticket.Claims{}, false
	}
	c, ok := login.Authenticate(w, r, h.deps.Keys, ticket.AudPlayer, ticket.AudHallOps)
	if !ok {
		return c, false
	}
	// Before the first topology the directory is empty, not "no regions":
	// clients retry rather than conclude there is nothing to play.
	h.mu.Lock()
	synced := h.synced
	h.mu.Unlock()
	if !synced {
		login.WriteRetryError(w, http.StatusServiceUnavailable, codeNotSynced, "the hall is starting: it has not received the list of shards yet", time.Second)
		return c, false
	}
	if newClient && h.cfg.MaxClients > 0 && int(h.clients.Load()) >= h.cfg.MaxClients {
		h.redirect(w, r)
		return c, false
	}
	return c, true
}

// codeNotSynced answers requests that come before the first topology.
const codeNotSynced = "NOT_SYNCED"

// RedirectBody is the JSON body of a 307 redirect to a peer.
type RedirectBody struct {
	Redirect struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"redirect"`
}

func (h *Server) redirect(w http.ResponseWriter, r *http.Request) {
	h.peersMu.Lock()
	var best *presence.Peer
	for i := range h.peers {
		p := &h.peers[i]
		if p.Name == h.cfg.Name || (p.Max > 0 && p.Clients >= p.Max) {
			continue
		}
		if best == nil || load(*p) < load(*best) {
			best = p
		}
	}
	var target presence.Peer
	if best != nil {
		target = *best
	}
	h.peersMu.Unlock()
	n := h.clients.Load()
	if best == nil {
		h.m.redirects.WithLabelValues("full").Inc()
		login.WriteRetryError(w, http.StatusServiceUnavailable, login.CodeHallFull,
			fmt.Sprintf("this hall serves %d of %d clients and no peer has room", n, h.cfg.MaxClients), 5*time.Second)
		return
	}
	h.m.redirects.WithLabelValues("redirect").Inc()
	// The query goes along (page, resume), a ticket in it never: tickets
	// do not travel in URLs (login.TicketFrom).
	u := *r.URL
	q := u.Query()
	q.Del("ticket")
	u.RawQuery = q.Encode()
	loc := target.Address + u.RequestURI()
	var body RedirectBody
	body.Redirect.Code = "HALL_BUSY"
	body.Redirect.Message = fmt.Sprintf("this hall serves %d of %d clients; %s has %d of %d", n, h.cfg.MaxClients, target.Name, target.Clients, target.Max)
	body.Redirect.Location = loc
	w.Header().Set("Location", loc)
	login.WriteJSON(w, http.StatusTemporaryRedirect, body)
}

func load(p presence.Peer) float64 {
	if p.Max <= 0 {
		return float64(p.Clients) / 1e9 // unlimited: nearly empty
	}
	return float64(p.Clients) / float64(p.Max)
}
