package bot

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Event is one line of Config.Events: what happened to a player's shard
// connection, for fault tests and for a person reading a run afterwards.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // see the Ev* constants
	Account string    `json:"account"`
	Shard   string    `json:"shard"`            // the shard's address
	Code    string    `json:"code,omitempty"`   // a KickCode, for cut and kicked
	Detail  string    `json:"detail,omitempty"` // the reason, an error
	Millis  int64     `json:"ms,omitempty"`     // resumed: from the drop to the seat back
	InGame  bool      `json:"inGame,omitempty"` // a game was running at the player's table
}

// Event kinds.
const (
	EvCut          = "cut"           // kicked in a room because the shard went away
	EvKicked       = "kicked"        // kicked in a room for another reason
	EvLost         = "lost"          // the connection ended with no word from the server
	EvDropped      = "dropped"       // the bot dropped its connection on purpose
	EvResumed      = "resumed"       // the seat is back on a new connection
	EvResumeFailed = "resume-failed" // the seat could not be resumed
	EvBackToHall   = "back-to-hall"  // the player picks a room from the hall again
	EvInOtherRoom  = "in-other-room" // a room entry refused IN_OTHER_ROOM: presence still seats the account elsewhere
)

// eventLog writes Events as JSON lines; nil writes nothing.
type eventLog struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newEventLog(w io.Writer) *eventLog {
	if w == nil {
		return nil
	}
	return &eventLog{enc: json.NewEncoder(w)}
}

func (l *eventLog) add(ev Event) {
	if l == nil {
		return
	}
	ev.Time = time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.enc.Encode(ev)
}
