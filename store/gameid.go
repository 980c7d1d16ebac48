package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// idSuffix is the length of a game id's own part: 12 bytes in hex, the
// first six the end's milliseconds (ids of a region sort by time, which
// keeps the games index append-mostly), the last six random.
const idSuffix = 24

// NewGameID names a new game of region: "<region>-<24 hex digits>". The
// region is part of the id so that GET /v1/games/{id} knows which region's
// database to read without asking every one.
func NewGameID(region string, now time.Time) string {
	var b [12]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	copy(b[:6], ms[2:])
	rand.Read(b[6:])
	return region + "-" + hex.EncodeToString(b[:])
}

// GameRegion returns the region a game id names; ok is false for a string
// that is not a game id.
func GameRegion(id string) (region string, ok bool) {
	if len(id) < idSuffix+2 || id[len(id)-idSuffix-1] != '-' {
		return "", false
	}
	suffix := id[len(id)-idSuffix:]
	if strings.ToLower(suffix) != suffix {
		return "", false
	}
	if _, err := hex.DecodeString(suffix); err != nil {
		return "", false
	}
	return id[:len(id)-idSuffix-1], true
}
