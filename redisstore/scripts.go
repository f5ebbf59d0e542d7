package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Every script touches exactly one key, KEYS[1], so it runs unchanged on a
// Redis Cluster. Times arrive from Go as decimal ms (the app's clock, so an
// entry dies by the same clock that Get checks); TTLs are set relative to
// that clock (PX), so clock skew between app and Redis cannot expire a key
// early. Every number stays below 2^53 (see codec.go), where Lua doubles
// are exact.
//
// Status replies (integers) shared by the scripts and Go.
const (
	stOK       = 0
	stNotFound = 1
	stConflict = 2
	stCorrupt  = 3
	stReindex  = 4 // put wrote an update whose user id or absolute deadline changed
)

// luaLib parses and rebuilds the value layout described in codec.go.
const luaLib = `
local function enc(x)
  local u = 2 * x
  if x < 0 then u = -2 * x - 1 end
  local t = {}
  while u >= 128 do
    local r = u % 128
    t[#t + 1] = r + 128
    u = (u - r) / 128
  end
  t[#t + 1] = u
  return string.char(unpack(t))
end
local function parse(v)
  -- One string.byte call for the whole header (at most 1+8+5*8 bytes):
  -- a call per byte costs more than the varint arithmetic.
  local b = {string.byte(v, 1, 49)}
  local n = (b[1] or 0) - 160
  if n < 1 or n > 8 or #b < 1 + n or b[2] == 0 then return nil end
  local p, x, rest = 2 + n, {}, 0
  for f = 1, 5 do
    if f == 5 then rest = p end
    local u, m, ok = 0, 1, false
    for _ = 1, 8 do
      local c = b[p]
      if not c then return nil end
      p = p + 1
      if c < 128 then
        u, ok = u + c * m, true
        break
      end
      u, m = u + (c - 128) * m, m * 128
    end
    if not ok then return nil end
    if f < 5 then
      if u % 2 == 1 then u = -(u + 1) / 2 else u = u / 2 end
    end
    x[f] = u
  end
  if p - 1 + x[5] > #v then return nil end
  local e = {n = n, ver = string.sub(v, 2, 1 + n), rest = rest, uid = string.sub(v, rest, p - 1 + x[5])}
  e.created, e.last = x[1], x[1] + x[2]
  e.idle, e.abs = e.last + x[3], x[1] + x[4]
  return e
end
local function dead(e, now) return now >= math.min(e.idle, e.abs) end
local function rebuild(v, e, last, idle)
  return string.sub(v, 1, 1 + e.n) .. enc(e.created) .. enc(last - e.created) .. enc(idle - last) ..
    enc(e.abs - e.created) .. string.sub(v, e.rest)
end
local function store(k, v, ttl)
  if ttl > 0 then
    redis.call('SET', k, v, 'PX', string.format('%.0f', ttl))
  else
    redis.call('DEL', k)
  end
end
local function storeArg(k, v, ttl)
  if tonumber(ttl) > 0 then
    redis.call('SET', k, v, 'PX', ttl)
  else
    redis.call('DEL', k)
  end
end
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a >= b
end
`

// putScript is the compare-and-set of Put. An update returns 4 instead of
// 0 when the stored entry's user id or absolute deadline differs from the
// new one's, so that Go updates the index.
// ARGV: expected version bytes ("" = create), now ms, value, ttl ms,
// new user id segment, new absolute deadline ms.
var putScript = redis.NewScript(luaLib + `
local v = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[2])
local live, moved = false, false
if v then
  local e = parse(v)
  if not e then return 3 end
  live = not dead(e, now)
  if live and ARGV[1] ~= '' and e.ver ~= ARGV[1] then return 2 end
  moved = e.uid ~= ARGV[5] or e.abs ~= tonumber(ARGV[6])
end
if ARGV[1] == '' then
  if live then return 2 end
elseif not live then
  return 1
end
storeArg(KEYS[1], ARGV[3], ARGV[4])
if ARGV[1] ~= '' and moved and ARGV[5] ~= string.char(0) then return 4 end
return 0
`)

// touchScript refreshes activity in place.
// ARGV: now ms, new last activity ms, new idle deadline ms.
var touchScript = redis.NewScript(luaLib + `
local v = redis.call('GET', KEYS[1])
if not v then return 1 end
local e = parse(v)
if not e then return 3 end
local now = tonumber(ARGV[1])
if dead(e, now) then return 1 end
local last, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
store(KEYS[1], rebuild(v, e, last, idle), math.min(idle, e.abs) - now)
return 0
`)

// copyInScript writes the value unless a live entry at a version >= the
// given one holds the key. Returns 1 when it wrote.
// ARGV: version bytes, now ms, value, ttl ms.
var copyInScript = redis.NewScript(luaLib + `
local v = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[2])
if v then
  local e = parse(v)
  if e and not dead(e, now) and newer(e.ver, ARGV[1]) then return 0 end
end
storeArg(KEYS[1], ARGV[3], ARGV[4])
return 1
`)

// deleteUserScript deletes the value if it belongs to the user. Returns 1
// when it deleted a live entry, 0 when the key was missing or dead (and is
// now gone), -1 when it belongs to someone else or cannot be parsed (left
// alone).
// ARGV: user id segment (as appendUserID writes it), now ms.
var deleteUserScript = redis.NewScript(luaLib + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local e = parse(v)
if not e or e.uid ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
if dead(e, tonumber(ARGV[2])) then return 0 end
return 1
`)

// runScript runs one script on key: EVALSHA, and EVAL when the server
// does not have it cached (after a restart or a SCRIPT FLUSH).
func runScript(ctx context.Context, c redis.UniversalClient, s *redis.Script, key string, args ...any) (any, error) {
	return s.Run(ctx, c, []string{key}, args...).Result()
}

// scriptCall is one script run within a pipeline.
type scriptCall struct {
	script *redis.Script
	key    string
	args   []any
	cmd    *redis.Cmd
	result any
}

// isNoScript reports whether err means the script is not cached.
func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// runScripts sends calls (with EVALSHA) and the commands extra queues, and
// stores each call's result. It returns the first error of a call or, when
// all calls succeeded, of an extra command: a write whose index update
// failed is reported, so callers never believe an unindexed session is
// indexed.
//
// The extra commands (index updates, all idempotent) must never land before
// the scripts' writes: a ListUser that met an index member whose session
// key does not exist yet would prune it as dead, and the live session would
// drop out of its user's index for good. On one server a pipeline keeps its
// order, so everything goes in one round trip; calls that meet NOSCRIPT are
// sent again with EVAL (a second round trip, after a restart only) and the
// extra commands are repeated after them. A Cluster client sends each node
// its part of a pipeline at once, in no order, so there (ordered) the
// extra commands follow in a second round trip.
func runScripts(ctx context.Context, c redis.UniversalClient, calls []scriptCall, extra func(redis.Pipeliner), ordered bool) error {
	first := extra
	if ordered {
		first = nil
	}
	cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range calls {
			calls[i].cmd = calls[i].script.EvalSha(ctx, p, []string{calls[i].key}, calls[i].args...)
		}
		if first != nil {
			first(p)
		}
		return nil
	})
	var retry []int
	for i := range calls {
		if isNoScript(calls[i].cmd.Err()) {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range retry {
				calls[i].cmd = calls[i].script.Eval(ctx, p, []string{calls[i].key}, calls[i].args...)
			}
			return nil
		})
	}
	for i := range calls {
		r, err := calls[i].cmd.Result()
		if err != nil {
			return err
		}
		calls[i].result = r
	}
	if extra != nil && (ordered || len(retry) > 0) {
		cmds, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			extra(p)
			return nil
		})
	} else {
		cmds = cmds[len(calls):]
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// scriptPipeline runs one script on key together with the commands extra
// queues (see runScripts) and returns the script's result.
func (s *Store) scriptPipeline(ctx context.Context, sc *redis.Script, key string, args []any, extra func(redis.Pipeliner)) (any, error) {
	if extra == nil {
		// A lone script costs less as a plain command than as a pipeline.
		return runScript(ctx, s.c, sc, key, args...)
	}
	calls := []scriptCall{{script: sc, key: key, args: args}}
	if err := runScripts(ctx, s.c, calls, extra, s.cluster); err != nil {
		return nil, err
	}
	return calls[0].result, nil
}
