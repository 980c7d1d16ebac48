package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store of a real deployment. Keys (all under prefix):
//
//	s:{account}          string  live session id, PX ttl
//	r:{game}:{account}   hash    shard, room, sess (the session that entered), PX ttl
//	peers                zset    hall name → expiry (ms, Redis clock)
//	p:{name}             string  Peer as JSON, PX ttl
//	kicks                pub/sub channel of Kick as JSON
//
// Every read-check-write is one Lua script, so it is atomic across all
// halls and shards sharing the Redis.
type Redis struct {
	c      *redis.Client
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client with every key under prefix (e.g.
// "gamehall:"), so several platforms can share one Redis. Close closes
// client.
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{c: client, prefix: prefix}
}

func (r *Redis) sessionKey(account string) string { return r.prefix + "s:" + account }
func (r *Redis) roomKey(account, game string) string {
	// game is a DNS-style name (no ':'), so the key is unambiguous.
	return r.prefix + "r:" + game + ":" + account
}
func (r *Redis) kickChannel() string        { return r.prefix + "kicks" }
func (r *Redis) sessionsKey() string        { return r.prefix + "sessions" }
func (r *Redis) peersKey() string           { return r.prefix + "peers" }
func (r *Redis) peerKey(name string) string { return r.prefix + "p:" + name }

// unavailable wraps a Redis failure; context errors pass through unchanged
// so callers can tell a cancelled request from a dead store.
func unavailable(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// The sessions zset (account → expiry, Redis clock) only feeds the active
// sessions gauge; the s:{account} keys are the truth.
var loginScript = redis.NewScript(`
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[3], t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[2], ARGV[3])
if prev and prev ~= ARGV[1] then
  redis.call('PUBLISH', KEYS[2], cjson.encode({account = ARGV[3], session = prev, reason = ARGV[4]}))
end
return prev or ''
`)

func (r *Redis) Login(ctx context.Context, account, session string, ttl time.Duration) (string, error) {
	if err := validate(account, session, ttl); err != nil {
		return "", err
	}
	prev, err := loginScript.Run(ctx, r.c, []string{r.sessionKey(account), r.kickChannel(), r.sessionsKey()},
		session, ttl.Milliseconds(), account, KickReason).Text()
	if err != nil {
		return "", unavailable(ctx, err)
	}
	return prev, nil
}

var logoutScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0
`)

func (r *Redis) Logout(ctx context.Context, account, session string) error {
	return unavailable(ctx, logoutScript.Run(ctx, r.c, []string{r.sessionKey(account), r.sessionsKey()}, session, account).Err())
}

func (r *Redis) Session(ctx context.Context, account string) (string, error) {
	s, err := r.c.Get(ctx, r.sessionKey(account)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return s, unavailable(ctx, err)
}

// touchScript: a lost session (Redis restarted empty) is restored by its
// holder; a different live session means this one was superseded.
var touchScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[2], ARGV[3])
return 1
`)

func (r *Redis) Touch(ctx context.Context, account, session string, ttl time.Duration) error {
	if err := validate(account, session, ttl); err != nil {
		return err
	}
	n, err := touchScript.Run(ctx, r.c, []string{r.sessionKey(account), r.sessionsKey()}, session, ttl.Milliseconds(), account).Int()
	if err != nil {
		return unavailable(ctx, err)
	}
	if n == 0 {
		return ErrSessionSuperseded
	}
	return nil
}

// enterScript: an entry elsewhere blocks only if the same (live) session
// made it; an older session's entry yields, since that session is being
// kicked.
var enterScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'superseded' end
local cur = redis.call('HMGET', KEYS[2], 'shard', 'room', 'sess')
if cur[1] and (cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3]) and cur[3] == ARGV[1] then
  return 'other'
end
redis.call('HSET', KEYS[2], 'shard', ARGV[2], 'room', ARGV[3], 'sess', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 'ok'
`)

func (r *Redis) EnterRoom(ctx context.Context, account, session, game string, where RoomKey, ttl time.Duration) error {
	if err := validateRoom(account, game, where, ttl); err != nil {
		return err
	}
	if session == "" {
		return errNoSession
	}
	res, err := enterScript.Run(ctx, r.c, []string{r.sessionKey(account), r.roomKey(account, game)},
		session, where.Shard, where.Room, ttl.Milliseconds()).Text()
	if err != nil {
		return unavailable(ctx, err)
	}
	switch res {
	case "ok":
		return nil
	case "superseded":
		return ErrSessionSuperseded
	case "other":
		return ErrInOtherRoom
	}
	return fmt.Errorf("presence: unexpected script result %q", res)
}

var leaveScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'shard', 'room')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 0
`)

func (r *Redis) LeaveRoom(ctx context.Context, account, game string, where RoomKey) error {
	return unavailable(ctx, leaveScript.Run(ctx, r.c, []string{r.roomKey(account, game)}, where.Shard, where.Room).Err())
}

func (r *Redis) RoomOf(ctx context.Context, account, game string) (RoomKey, bool, error) {
	vals, err := r.c.HMGet(ctx, r.roomKey(account, game), "shard", "room").Result()
	if err != nil {
		return RoomKey{}, false, unavailable(ctx, err)
	}
	shard, _ := vals[0].(string)
	room, _ := vals[1].(string)
	if shard == "" {
		return RoomKey{}, false, nil
	}
	n, err := strconv.Atoi(room)
	if err != nil {
		return RoomKey{}, false, fmt.Errorf("presence: corrupt room entry %q: %v", room, err)
	}
	return RoomKey{Shard: shard, Room: n}, true, nil
}

// touchRoomScript: a lost entry is restored (without a session, so it never
// blocks the account's live session from moving); another place is an error.
var touchRoomScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'shard', 'room')
if cur[1] and (cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2]) then return 0 end
if not cur[1] then redis.call('HSET', KEYS[1], 'shard', ARGV[1], 'room', ARGV[2], 'sess', '') end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

func (r *Redis) TouchRoom(ctx context.Context, account, game string, where RoomKey, ttl time.Duration) error {
	if err := validateRoom(account, game, where, ttl); err != nil {
		return err
	}
	n, err := touchRoomScript.Run(ctx, r.c, []string{r.roomKey(account, game)}, where.Shard, where.Room, ttl.Milliseconds()).Int()
	if err != nil {
		return unavailable(ctx, err)
	}
	if n == 0 {
		return ErrInOtherRoom
	}
	return nil
}

type kickJSON struct {
	Account string `json:"account"`
	Session string `json:"session"`
	Reason  string `json:"reason"`
}

// Kicks subscribes to the kick channel. It returns once the subscription
// is active, so no kick published afterwards is missed; go-redis
// resubscribes by itself after a connection loss (kicks published while
// disconnected are lost: the superseded session's Touch then fails).
func (r *Redis) Kicks(ctx context.Context) (<-chan Kick, error) {
	ps := r.c.Subscribe(ctx)
	if err := ps.Subscribe(ctx, r.kickChannel()); err != nil {
		ps.Close()
		return nil, unavailable(ctx, err)
	}
	// Wait for the confirmation: the subscription is live on the server.
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, unavailable(ctx, err)
	}
	out := make(chan Kick, kickBuffer)
	go func() {
		// A blocked receive does not watch ctx; closing the PubSub ends it.
		<-ctx.Done()
		ps.Close()
	}()
	go func() {
		defer close(out)
		for {
			msg, err := ps.ReceiveMessage(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
					return
				}
				// Connection lost: go-redis reconnects on the next receive.
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			var k kickJSON
			if json.Unmarshal([]byte(msg.Payload), &k) != nil || k.Account == "" {
				continue // not ours: ignore rather than kill the stream
			}
			select {
			case out <- Kick(k):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

var advertiseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + ARGV[3], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 0
`)

var peersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, n in ipairs(names) do
  local v = redis.call('GET', ARGV[1] .. n)
  if v then table.insert(out, v) end
end
return out
`)

func (r *Redis) Advertise(ctx context.Context, p Peer, ttl time.Duration) error {
	if err := validatePeer(p, ttl); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return unavailable(ctx, advertiseScript.Run(ctx, r.c, []string{r.peersKey(), r.peerKey(p.Name)},
		p.Name, b, ttl.Milliseconds()).Err())
}

func (r *Redis) Peers(ctx context.Context) ([]Peer, error) {
	vals, err := peersScript.Run(ctx, r.c, []string{r.peersKey()}, r.peerKey("")).StringSlice()
	if err != nil {
		return nil, unavailable(ctx, err)
	}
	out := make([]Peer, 0, len(vals))
	for _, v := range vals {
		var p Peer
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			return nil, fmt.Errorf("presence: corrupt peer entry: %v", err)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var countScript = redis.NewScript(`
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
return redis.call('ZCARD', KEYS[1])
`)

// ActiveSessions counts live sessions (for the gamehall_active_sessions gauge).
func (r *Redis) ActiveSessions(ctx context.Context) (int, error) {
	n, err := countScript.Run(ctx, r.c, []string{r.sessionsKey()}).Int()
	return n, unavailable(ctx, err)
}

// Ping reports whether Redis answers (for readiness probes).
func (r *Redis) Ping(ctx context.Context) error {
	return unavailable(ctx, r.c.Ping(ctx).Err())
}

func (r *Redis) Close() error { return r.c.Close() }
