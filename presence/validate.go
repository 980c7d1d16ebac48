package presence

import (
	"errors"
	"fmt"
	"time"
)

var (
	errClosed    = fmt.Errorf("%w: store closed", ErrUnavailable)
	errNoSession = errors.New("presence: empty session id")
)

// validate rejects arguments that would store a meaningless entry.
func validate(account, session string, ttl time.Duration) error {
	switch {
	case account == "":
		return errors.New("presence: empty account")
	case session == "":
		return errNoSession
	case ttl < time.Millisecond:
		return fmt.Errorf("presence: ttl %v is under a millisecond", ttl)
	}
	return nil
}

func validateRoom(account, game string, where RoomKey, ttl time.Duration) error {
	switch {
	case account == "":
		return errors.New("presence: empty account")
	case game == "":
		return errors.New("presence: empty game")
	case where.Shard == "":
		return errors.New("presence: empty shard in room key")
	case where.Room <= 0:
		return fmt.Errorf("presence: room %d is not positive", where.Room)
	case ttl < time.Millisecond:
		return fmt.Errorf("presence: ttl %v is under a millisecond", ttl)
	}
	return nil
}

func validatePeer(p Peer, ttl time.Duration) error {
	switch {
	case p.Name == "":
		return errors.New("presence: peer without a name")
	case p.Address == "":
		return errors.New("presence: peer without an address")
	case ttl < time.Millisecond:
		return fmt.Errorf("presence: ttl %v is under a millisecond", ttl)
	}
	return nil
}

// validateRefresh also rejects a hold seated at another shard than the
// beat's: a shard re-asserts only its own entries.
func validateRefresh(beat Beat, holds []Hold, ttl time.Duration) error {
	switch {
	case beat.Shard == "":
		return errors.New("presence: refresh without a shard")
	case beat.Alive < time.Millisecond:
		return fmt.Errorf("presence: alive %v is under a millisecond", beat.Alive)
	}
	for _, h := range holds {
		if h.Game != "" && h.Room.Shard != beat.Shard {
			return fmt.Errorf("presence: shard %q refreshes a hold at shard %q", beat.Shard, h.Room.Shard)
		}
	}
	return validateHolds(holds, ttl)
}

func validateHolds(holds []Hold, ttl time.Duration) error {
	for _, h := range holds {
		if err := validate(h.Account, h.Session, ttl); err != nil {
			return err
		}
		if h.Game != "" {
			if err := validateRoom(h.Account, h.Game, h.Room, ttl); err != nil {
				return err
			}
		}
	}
	return nil
}
