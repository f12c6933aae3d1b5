"""The budget ledger's Lua scripts (keys and records: `bot.adapters.redis.budget`): reserve, settle, reap."""

# Shared by reserve and settle (KEYS: res, exp, n counters, n alert hashes). `alert` marks a crossed threshold
# once (HSETNX) in the cap's alert hash, which lives as long as its counter: one notice per threshold, period.
_COMMON = """
local function pcts(csv)
  local out = {}
  for p in string.gmatch(csv, '%d+') do out[#out + 1] = tonumber(p) end
  return out
end
local function charge(i, n, delta, ttl)
  local used = redis.call('INCRBY', KEYS[2 + i], delta)
  -- Refreshed on every charge: a counter (the PR's above all) lives `ttl` past its last charge.
  redis.call('EXPIRE', KEYS[2 + i], ttl)
  if redis.call('EXISTS', KEYS[2 + n + i]) == 1 then redis.call('EXPIRE', KEYS[2 + n + i], ttl) end
  return used
end
local function alert(i, n, used, limit, ttl, thresholds, fired)
  local cap = tonumber(limit)
  if cap <= 0 then return end
  for _, p in ipairs(thresholds) do
    if used >= p * cap / 100 and redis.call('HSETNX', KEYS[2 + n + i], p, used) == 1 then
      redis.call('EXPIRE', KEYS[2 + n + i], ttl)
      for _, v in ipairs({i, p, used, limit}) do fired[#fired + 1] = v end
    end
  end
end
"""

# ARGV: id, amount, reservation ttl ms, thresholds csv, then per cap: limit, counter ttl s, alerts (0/1).
RESERVE = (
    _COMMON
    + """
local res, exp, id = KEYS[1], KEYS[2], ARGV[1]
if redis.call('HEXISTS', res, id) == 1 then return {1} end
local n, amount, thresholds = (#KEYS - 2) / 2, tonumber(ARGV[2]), pcts(ARGV[4])
local function arg(i, j) return ARGV[4 + 3 * (i - 1) + j] end
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
  if used + amount > tonumber(arg(i, 1)) then return {0, i, used} end
end
local names, limits, ttls, flags, fired = {}, {}, {}, {}, {}
for i = 1, n do
  local used = charge(i, n, ARGV[2], arg(i, 2))
  if arg(i, 3) == '1' then alert(i, n, used, arg(i, 1), arg(i, 2), thresholds, fired) end
  names[i], limits[i], ttls[i], flags[i] = KEYS[2 + i], arg(i, 1), arg(i, 2), arg(i, 3)
end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
local record = {s = 'open', a = ARGV[2], k = names, l = limits, t = ttls, f = flags}
redis.call('HSET', res, id, cjson.encode(record))
redis.call('ZADD', exp, now_ms + tonumber(ARGV[3]), id)
return {1, unpack(fired)}
"""
)

# ARGV: id, actual, settle id, tombstone ms, default counter ttl s, thresholds csv. Amounts, limits and
# ttls stay strings in the record: cjson prints numbers with 14 digits only.
SETTLE = (
    _COMMON
    + """
local res, exp, id = KEYS[1], KEYS[2], ARGV[1]
local rec = redis.call('HGET', res, id)
if not rec then return {'unknown'} end
local r = cjson.decode(rec)
if r.s == 'settled' then
  if r.n == ARGV[3] then return {'ok'} end
  return {'settled'}
end
if r.s ~= 'open' then return {r.s} end
local n = (#KEYS - 2) / 2
if #r.k ~= n then return {'keys', rec} end
for i = 1, n do
  if r.k[i] ~= KEYS[i + 2] then return {'keys', rec} end
end
local delta, thresholds, fired = tonumber(ARGV[2]) - tonumber(r.a), pcts(ARGV[6]), {}
for i = 1, n do
  local ttl = (r.t and r.t[i]) or ARGV[5]
  if delta > 0 or (delta < 0 and redis.call('EXISTS', KEYS[i + 2]) == 1) then
    local used = charge(i, n, delta, ttl)
    if delta > 0 and r.f and r.f[i] == '1' then alert(i, n, used, r.l[i], ttl, thresholds, fired) end
  end
end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', res, id, cjson.encode({s = 'settled', n = ARGV[3]}))
redis.call('ZADD', exp, now_ms + tonumber(ARGV[4]), id)
return {'ok', unpack(fired)}
"""
)

REAP = """
local res, exp = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
local due = redis.call('ZRANGEBYSCORE', exp, '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
local charged = {}
for _, id in ipairs(due) do
  local rec = redis.call('HGET', res, id)
  local r = rec and cjson.decode(rec)
  if r and r.s == 'open' then
    redis.call('HSET', res, id, cjson.encode({s = 'reaped', a = r.a}))
    redis.call('ZADD', exp, now_ms + tonumber(ARGV[2]), id)
    charged[#charged + 1] = id
    charged[#charged + 1] = r.a
  else
    redis.call('HDEL', res, id)
    redis.call('ZREM', exp, id)
  end
end
return {#due, charged}
"""
