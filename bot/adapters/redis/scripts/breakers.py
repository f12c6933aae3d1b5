"""The circuit breakers' Lua scripts (keys: `bot.adapters.redis.breakers`): admit, observe, reset."""

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(x) return string.format('%d', x) end
"""

# ARGV: token, probe_ttl_ms. Reply: {allowed, state, probe, retry_at_ms}
ADMIT = (
    _NOW
    + """
local h, token = KEYS[1], ARGV[1]
local state = redis.call('HGET', h, 'state')
if not state or state == 'closed' then return {1, 'closed', 0, 0} end
if state == 'half_open' and redis.call('HGET', h, 'probe') == token then return {1, state, 1, 0} end
local now, untl = now_ms(), tonumber(redis.call('HGET', h, 'until') or '0')
if now < untl then return {0, state, 0, untl} end
redis.call('HSET', h, 'state', 'half_open', 'probe', token, 'until', fmt(now + tonumber(ARGV[2])))
return {1, 'half_open', 1, 0}
"""
)

# KEYS: hash, registry. ARGV: token, event, reason, threshold, cooldown_ms, name.
# Reply: 1 when it opened the breaker, 2 when it (the probe's success) closed it, else 0.
OBSERVE = (
    _NOW
    + """
local h, token, event, reason = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if (event == 'success' or event == 'unsent') and redis.call('EXISTS', h) == 0 then return 0 end
local state = redis.call('HGET', h, 'state') or 'closed'
redis.call('SADD', KEYS[2], ARGV[6])
local probing = state == 'half_open' and redis.call('HGET', h, 'probe') == token
if event == 'unsent' then
  if probing then redis.call('HSET', h, 'probe', '', 'until', fmt(now_ms())) end
  return 0
end
local function open()
  redis.call('HSET', h, 'state', 'open', 'until', fmt(now_ms() + tonumber(ARGV[5])), 'probe', '',
             'reason', reason)
  if state == 'open' then return 0 end
  redis.call('HINCRBY', h, 'opened', 1)
  return 1
end
if event == 'trip' or (event == 'failure' and probing) then return open() end
if event == 'failure' then
  if state ~= 'closed' then return 0 end
  if redis.call('HINCRBY', h, 'failures', 1) >= tonumber(ARGV[4]) then return open() end
  return 0
end
if probing or state == 'closed' then
  redis.call('HSET', h, 'state', 'closed', 'failures', 0, 'until', 0, 'probe', '', 'reason', '')
  if probing then return 2 end
end
return 0
"""
)

RESET = """
local h = KEYS[1]
if redis.call('EXISTS', h) == 0 then return 0 end
local state = redis.call('HGET', h, 'state') or 'closed'
if state == 'closed' and tonumber(redis.call('HGET', h, 'failures') or '0') == 0 then return 0 end
redis.call('HSET', h, 'state', 'closed', 'failures', 0, 'until', 0, 'probe', '', 'reason', '')
return 1
"""
