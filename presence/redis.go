package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store of a real deployment. Keys (all under prefix):
//
//	s:{account}          string  live session id, PX ttl
//	r:{game}:{account}   hash    shard, room, sess (the session that entered or re-asserted it), PX ttl
//	a:{shard}            string  the shard is alive (Refresh), PX beat.Alive
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
func (r *Redis) aliveKey(shard string) string { return r.aliveKeys() + shard }

// aliveKeys is the prefix of the liveness keys: the scripts name the key of
// an entry's shard only once they read the entry.
func (r *Redis) aliveKeys() string          { return r.prefix + "a:" }
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

// loginIfScript is loginScript when the live session is ARGV[5] (empty: none).
var loginIfScript = redis.NewScript(`
local prev = redis.call('GET', KEYS[1]) or ''
if prev ~= ARGV[5] then return {0, prev} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[3], t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[2], ARGV[3])
if prev ~= '' and prev ~= ARGV[1] then
  redis.call('PUBLISH', KEYS[2], cjson.encode({account = ARGV[3], session = prev, reason = ARGV[4]}))
end
return {1, prev}
`)

func (r *Redis) LoginIf(ctx context.Context, account, session, expect string, ttl time.Duration) (string, bool, error) {
	if err := validate(account, session, ttl); err != nil {
		return "", false, err
	}
	res, err := loginIfScript.Run(ctx, r.c, []string{r.sessionKey(account), r.kickChannel(), r.sessionsKey()},
		session, ttl.Milliseconds(), account, KickReason, expect).Slice()
	if err != nil {
		return "", false, unavailable(ctx, err)
	}
	if len(res) != 2 {
		return "", false, fmt.Errorf("%w: login script answered %v", ErrUnavailable, res)
	}
	ok, _ := res[0].(int64)
	prev, _ := res[1].(string)
	return prev, ok == 1, nil
}

var logoutScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('PUBLISH', KEYS[3], cjson.encode({account = ARGV[2], session = ARGV[1], reason = ARGV[3]}))
end
return 0
`)

func (r *Redis) Logout(ctx context.Context, account, session string) error {
	return unavailable(ctx, logoutScript.Run(ctx, r.c, []string{r.sessionKey(account), r.sessionsKey(), r.kickChannel()},
		session, account, LogoutReason).Err())
}

func (r *Redis) Session(ctx context.Context, account string) (string, error) {
	s, err := r.c.Get(ctx, r.sessionKey(account)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return s, unavailable(ctx, err)
}

// enterScript: an entry elsewhere blocks only if the same (live) session
// made it and its shard is alive (the entering shard is; a shard whose
// liveness key expired died, or was cut off and learns on its next
// Refresh that the entry moved); an older session's entry yields, since
// that session is being kicked, and its holder told to give the seat up
// (MovedReason). A lost session (no live one) is restored by its ticket's
// holder.
var enterScript = redis.NewScript(`
local live = redis.call('GET', KEYS[1])
if live and live ~= ARGV[1] then return 'superseded' end
if not live then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4]) end
local cur = redis.call('HMGET', KEYS[2], 'shard', 'room', 'sess')
if cur[1] and (cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3]) then
  if cur[3] == ARGV[1] then
    if cur[1] == ARGV[2] or redis.call('EXISTS', ARGV[7] .. cur[1]) == 1 then return 'other' end
  else
    redis.call('PUBLISH', KEYS[3], cjson.encode({account = ARGV[5], session = cur[3], reason = ARGV[6]}))
  end
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
	res, err := enterScript.Run(ctx, r.c, []string{r.sessionKey(account), r.roomKey(account, game), r.kickChannel()},
		session, where.Shard, where.Room, ttl.Milliseconds(), account, MovedReason, r.aliveKeys()).Text()
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

// refreshScript keeps the shard alive (KEYS[1], for ARGV[1] ms; 'lapsed'
// if it was not) and re-asserts one hold, if given (see Store.Refresh): the
// session is restored if lost, kept at least ttl (a login's longer TTL is
// never shortened), and the room entry (KEYS[5], when given) restored or
// taken over for the live session. A superseded session learns whether the
// newer one plays at an alive shard elsewhere ('other'). The liveness key
// is written with every entry, so no store loss can keep an entry and lose
// the liveness of its (alive) shard.
var refreshScript = redis.NewScript(`
local lapsed = redis.call('EXISTS', KEYS[1]) == 0
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
if #KEYS == 1 then
  if lapsed then return 'lapsed' end
  return 'ok'
end
local cur = redis.call('GET', KEYS[2])
local r = {}
if #KEYS == 5 then r = redis.call('HMGET', KEYS[5], 'shard', 'room', 'sess') end
local elsewhere = r[1] and (r[1] ~= ARGV[5] or r[2] ~= ARGV[6])
local held = elsewhere and redis.call('EXISTS', ARGV[8] .. r[1]) == 1
if cur and cur ~= ARGV[2] then
  if held then return 'other' end
  return 'superseded'
end
if not cur then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
elseif redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[3], 'GT', t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[3], ARGV[4])
if #KEYS < 5 then return 'ok' end
if elsewhere then
  if r[3] ~= ARGV[2] then
    redis.call('PUBLISH', KEYS[4], cjson.encode({account = ARGV[4], session = r[3], reason = ARGV[7]}))
  elseif held then
    return 'other'
  end
end
redis.call('HSET', KEYS[5], 'shard', ARGV[5], 'room', ARGV[6], 'sess', ARGV[2])
redis.call('PEXPIRE', KEYS[5], ARGV[3])
return 'ok'
`)

// refreshBatch bounds one pipeline of Refresh: a shard of 20,000 players
// re-asserts in 40 round trips, none of which holds Redis for long.
const refreshBatch = 500

func (r *Redis) Refresh(ctx context.Context, beat Beat, holds []Hold, ttl time.Duration) ([]error, bool, error) {
	if err := validateRefresh(beat, holds, ttl); err != nil {
		return nil, false, err
	}
	errs := make([]error, len(holds))
	lapsed := false
	// Every batch beats first; the first one, made even with no holds, tells
	// whether the liveness had lapsed.
	for start := 0; start == 0 || start < len(holds); start += refreshBatch {
		batch := holds[start:min(start+refreshBatch, len(holds))]
		l, err := r.refresh(ctx, beat, batch, ttl, errs[start:])
		if err != nil {
			return nil, false, err
		}
		if start == 0 {
			lapsed = l
		}
	}
	return errs, lapsed, nil
}

// refresh runs refreshScript for the beat alone, then once per hold, in one
// pipeline, and answers whether the beat found the shard's liveness lapsed.
func (r *Redis) refresh(ctx context.Context, beat Beat, holds []Hold, ttl time.Duration, errs []error) (bool, error) {
	alive := beat.Alive.Milliseconds()
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(holds)+1)
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			cmds[0] = refreshScript.EvalSha(ctx, p, []string{r.aliveKey(beat.Shard)}, alive)
			for i, h := range holds {
				keys := []string{r.aliveKey(beat.Shard), r.sessionKey(h.Account), r.sessionsKey()}
				args := []any{alive, h.Session, ttl.Milliseconds(), h.Account}
				if h.Game != "" {
					keys = append(keys, r.kickChannel(), r.roomKey(h.Account, h.Game))
					args = append(args, h.Room.Shard, h.Room.Room, MovedReason, r.aliveKeys())
				}
				cmds[i+1] = refreshScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A Redis that restarted has forgotten the script: load it, once.
		if lerr := refreshScript.Load(ctx, r.c).Err(); lerr != nil {
			return false, unavailable(ctx, lerr)
		}
		cmds, err = run()
	}
	if err != nil {
		return false, unavailable(ctx, err)
	}
	lapsed := false
	switch res, _ := cmds[0].Text(); res {
	case "ok":
	case "lapsed":
		lapsed = true
	default:
		return false, fmt.Errorf("presence: unexpected beat result %q", res)
	}
	for i, cmd := range cmds[1:] {
		switch res, _ := cmd.Text(); res {
		case "ok":
		case "superseded":
			errs[i] = ErrSessionSuperseded
		case "other":
			errs[i] = ErrInOtherRoom
		default:
			errs[i] = fmt.Errorf("presence: unexpected refresh result %q", res)
		}
	}
	return lapsed, nil
}

type kickJSON struct {
	Account string `json:"account"`
	Session string `json:"session"`
	Reason  string `json:"reason"`
}

// Kicks subscribes to the kick channel. It returns once the subscription
// is active, so no kick published afterwards is missed while it lasts.
// go-redis resubscribes by itself after a connection loss; kicks published
// meanwhile are lost, so every resubscription is announced with a Resync.
// A quiet subscription is pinged, so a dead connection is noticed.
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
		send := func(k Kick) bool {
			select {
			case out <- k:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			msg, err := ps.ReceiveTimeout(ctx, kickPing)
			var nerr net.Error
			switch {
			case err != nil && (ctx.Err() != nil || errors.Is(err, redis.ErrClosed)):
				return
			case errors.As(err, &nerr) && nerr.Timeout():
				// Quiet: make sure the connection is alive (a failed ping
				// reconnects, and the resubscription comes as a Subscription).
				_ = ps.Ping(ctx)
				continue
			case err != nil:
				// Connection lost: go-redis reconnects on the next receive.
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				// Only a resubscription confirms after the first.
				if m.Kind == "subscribe" && !send(Kick{Resync: true}) {
					return
				}
			case *redis.Message:
				var k kickJSON
				if json.Unmarshal([]byte(m.Payload), &k) != nil || k.Account == "" {
					continue // not ours: ignore rather than kill the stream
				}
				if !send(Kick{Account: k.Account, Session: k.Session, Reason: k.Reason}) {
					return
				}
			}
		}
	}()
	return out, nil
}

// kickPing is how long a kick subscription may be quiet before it is pinged.
const kickPing = 15 * time.Second

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
