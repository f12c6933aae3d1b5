"""The lease scripts (Redis 6.2 Lua, run after the queue prelude): renew, and the publish gate's writes.

They read the keys the scheduler's claim wrote (`bot.adapters.redis.lua`); each refuses with its reason
when the fence moved, the token is not the holder's, or the lease or its deadline has passed.
"""

# ARGV: job, token, fence, lease_ms
RENEW = r"""
local job, token, fence, lease_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', K_FENCE, job) ~= fence then return {0, 'stale_fence'} end
if lget(job, 'token') ~= token then return {0, 'not_held'} end
local _, ms = clock()
local deadline = tonumber(lget(job, 'deadline'))
if deadline <= ms then return {0, 'deadline'} end
if tonumber(redis.call('ZSCORE', K_RUNNING, job) or '0') <= ms then return {0, 'expired'} end
redis.call('ZADD', K_RUNNING, 'XX', math.min(ms + lease_ms, deadline), job)
return {1, 'ok'}
"""

# ARGV: job, token, fence, head
GATE = r"""
local job, token, fence, head = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current, known = redis.call('HGET', K_FENCE, job) or '0', jget(job, 'head') or ''
local _, ms = clock()
local reason = nil
if current ~= fence then reason = 'stale_fence'
elseif lget(job, 'token') ~= token then reason = 'not_held'
elseif tonumber(lget(job, 'deadline')) <= ms then reason = 'deadline'
elseif tonumber(redis.call('ZSCORE', K_RUNNING, job) or '0') <= ms then reason = 'expired'
elseif known ~= head then reason = 'head_moved' end
if reason then return {0, reason, current, known} end
redis.call('HSET', K_PUB, job .. '|publishing', fence)
return {1, 'ok', current, known}
"""

# ARGV: job, fence, marker
MARK_PUBLISHED = r"""
local job, fence = ARGV[1], ARGV[2]
if redis.call('HGET', K_FENCE, job) ~= fence then return 0 end
redis.call('HSET', K_PUB, job .. '|published', ARGV[3])
return 1
"""

# ARGV: job, token, fence. Expiry alone is no refusal (see `lease.write_refusal`).
CONFIRM_WRITE = r"""
local job, token, fence = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', K_FENCE, job) or '0'
if current ~= fence then return {0, 'stale_fence', current} end
if lget(job, 'token') ~= token then return {0, 'not_held', current} end
return {1, 'ok', current}
"""

# ARGV: job, review id, claim, fence. The first claim on a review stands (`lease.settle`).
SETTLE_REVIEW = r"""
local job, id, claim, fence = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if claim == 'adopted' and redis.call('HGET', K_FENCE, job) ~= fence then return '' end
local field = job .. '|settled'
local stored = redis.call('HGET', K_PUB, field)
if stored then
  local sid, verb = string.match(stored, '^(%d+):(%a+)$')
  if sid == id then return verb end
end
redis.call('HSET', K_PUB, field, id .. ':' .. claim)
return claim
"""
