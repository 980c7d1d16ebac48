package gameserver

import (
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
)

// kickReason is what a kicked client is told: a code for programs (what to
// do next) and words for people.
type kickReason struct {
	code pb.KickCode
	text string
}

var (
	kickSuperseded   = kickReason{pb.KickCode_KICK_SUPERSEDED, presence.KickReason}
	kickReplaced     = kickReason{pb.KickCode_KICK_REPLACED, "connection replaced"}
	kickShutdown     = kickReason{pb.KickCode_KICK_SHUTDOWN, "server shutting down; pick a room from the hall"}
	kickDrainTimeout = kickReason{pb.KickCode_KICK_DRAIN_TIMEOUT, "the server stopped waiting for its last players (drain timeout); pick a room from the hall"}
	kickLoggedOut    = kickReason{pb.KickCode_KICK_LOGGED_OUT, presence.LogoutReason}
	kickFlooding     = kickReason{pb.KickCode_KICK_FLOODING, "too many messages"}

	kickMoved = kickReason{pb.KickCode_KICK_SUPERSEDED, "playing in another room of this game: this seat is given up"}
)

// onKick acts on a presence kick. A newer login disconnects the old
// session, whose seat waits for the reconnect grace as after any drop (the
// new session may resume it); a logout, or the account taking a room
// elsewhere, gives the seat up at once.
func (s *Server) onKick(k presence.Kick) {
	switch k.Reason {
	case presence.KickReason:
		s.disconnect(k.Account, k.Session, kickSuperseded)
	case presence.LogoutReason:
		s.evict(k.Account, k.Session, kickLoggedOut)
	default: // presence.MovedReason, and whatever a newer store may say
		s.evict(k.Account, k.Session, kickMoved)
	}
}
