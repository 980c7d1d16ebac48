package presence

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The limiter's keys, under the prefix: lim:{key} (a hash: t tokens, at ms
// of the Redis clock), PX until full again, so an idle bucket costs
// nothing; lim:lk|{account}|{address} a known address, PX KnownFor.
func (r *Redis) limKey(key string) string { return r.prefix + "lim:" + key }

// bucketLua is the token bucket every limiter script shares: the Redis
// clock, so replicas agree.
const bucketLua = `
local function now_ms()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end
local function bucket(key, burst, every, now)
  local v = redis.call('HMGET', key, 't', 'at')
  if not v[1] then return burst end
  local t = tonumber(v[1]) + (now - tonumber(v[2])) / every
  if t > burst then t = burst end
  return t
end
local function put(key, t, burst, every, now)
  redis.call('HSET', key, 't', tostring(t), 'at', now)
  redis.call('PEXPIRE', key, math.ceil((burst - t) * every) + 1000)
end
`

// takeScript: one token from KEYS[1] (burst ARGV[1], every ARGV[2] ms);
// answers 0, or the ms until a token is free.
var takeScript = redis.NewScript(bucketLua + `
local now = now_ms()
local burst, every = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = bucket(KEYS[1], burst, every, now)
if t < 1 then return math.ceil((1 - t) * every) end
put(KEYS[1], t - 1, burst, every, now)
return 0
`)

func (r *Redis) Take(ctx context.Context, key string, rate Rate) (time.Duration, error) {
	if err := firstErr(validateKey(key), rate.validate()); err != nil {
		return 0, err
	}
	ms, err := takeScript.Run(ctx, r.c, []string{r.limKey("t|" + key)}, rate.Burst, rate.Every.Milliseconds()).Int64()
	if err != nil {
		return 0, unavailable(ctx, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// takeLoginScript: KEYS pair, address, account, known; ARGV the three
// rates (burst, every ms) and the max delay (ms). Answers {0, delay ms} or
// {n, retry ms} with n the refusing bucket (1 pair, 2 address, 3 account);
// a refusal writes nothing.
var takeLoginScript = redis.NewScript(bucketLua + `
local now = now_ms()
local pb, pe, ab, ae, cb, ce = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local pair = bucket(KEYS[1], pb, pe, now)
if pair < 1 then return {1, math.ceil((1 - pair) * pe)} end
local addr = bucket(KEYS[2], ab, ae, now)
if addr < 1 then return {2, math.ceil((1 - addr) * ae)} end
local delay = 0
if redis.call('EXISTS', KEYS[4]) == 0 then
  local acct = bucket(KEYS[3], cb, ce, now)
  if acct < 1 then
    delay = math.ceil((1 - acct) * ce)
    if delay > tonumber(ARGV[7]) then return {3, delay - tonumber(ARGV[7])} end
  end
  put(KEYS[3], acct - 1, cb, ce, now)
end
put(KEYS[1], pair - 1, pb, pe, now)
put(KEYS[2], addr - 1, ab, ae, now)
return {0, delay}
`)

func (r *Redis) loginKeys(account, address string) []string {
	pk, ak, ck, kk := loginKeys(account, address)
	return []string{r.limKey(pk), r.limKey(ak), r.limKey(ck), r.limKey(kk)}
}

func (l LoginLimits) args() []any {
	return []any{l.Pair.Burst, l.Pair.Every.Milliseconds(), l.Address.Burst, l.Address.Every.Milliseconds(),
		l.Account.Burst, l.Account.Every.Milliseconds()}
}

func (r *Redis) TakeLogin(ctx context.Context, account, address string, l LoginLimits) (LoginVerdict, error) {
	if err := l.validate(account, address); err != nil {
		return LoginVerdict{}, err
	}
	res, err := takeLoginScript.Run(ctx, r.c, r.loginKeys(account, address), append(l.args(), l.MaxDelay.Milliseconds())...).Int64Slice()
	if err != nil {
		return LoginVerdict{}, unavailable(ctx, err)
	}
	if len(res) != 2 {
		return LoginVerdict{}, fmt.Errorf("%w: limiter script answered %v", ErrUnavailable, res)
	}
	d := time.Duration(res[1]) * time.Millisecond
	switch res[0] {
	case 0:
		return LoginVerdict{Delay: d}, nil
	case 1:
		return LoginVerdict{Refused: LimitPair, RetryAfter: d}, nil
	case 2:
		return LoginVerdict{Refused: LimitAddress, RetryAfter: d}, nil
	default:
		return LoginVerdict{Refused: LimitAccount, RetryAfter: d}, nil
	}
}

// loginSucceededScript: a token back to each of KEYS pair, address and
// account (unless the address was known: the attempt took none there) that
// exists (an absent bucket is full); KEYS[4] known for ARGV[7] ms.
var loginSucceededScript = redis.NewScript(bucketLua + `
local now = now_ms()
local n = 3
if redis.call('EXISTS', KEYS[4]) == 1 then n = 2 end
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local b, e = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
    local t = bucket(KEYS[i], b, e, now) + 1
    if t > b then t = b end
    put(KEYS[i], t, b, e, now)
  end
end
redis.call('SET', KEYS[4], '1', 'PX', ARGV[7])
return 0
`)

func (r *Redis) LoginSucceeded(ctx context.Context, account, address string, l LoginLimits) error {
	if err := l.validate(account, address); err != nil {
		return err
	}
	return unavailable(ctx, loginSucceededScript.Run(ctx, r.c, r.loginKeys(account, address), append(l.args(), l.KnownFor.Milliseconds())...).Err())
}
