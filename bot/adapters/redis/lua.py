"""The queue scripts (Redis 6.2 Lua), the prelude they share with the lease scripts, and how to run them.

Every queue script receives the same fixed keys (`queue_keys`), all under one hash tag, plus at most one
key made from a client id (claim id, token, delivery id) so a re-sent script is a no-op. Times come from
the server's `TIME`. Numbers that may exceed 14 digits (µs fences) are written with `string.format('%d')`:
Lua's `tostring` would print them in exponent form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from bot.adapters.redis import conn as redis_conn

QUEUE_PARTS = (
    "q:seq", "q:pending", "q:delayed", "q:running", "q:repo_running", "q:lease", "q:job", "q:dead",
    "fence", "q:doorbell", "q:audit", "q:publish",
)  # fmt: skip


def queue_keys(keys: redis_conn.Keys) -> list[str]:
    """The fixed keys every queue script takes, in the order PRELUDE names them."""
    return [keys(*part.split(":")) for part in QUEUE_PARTS]


# The one Redis-error mapping, under the names the queue adapters use.
guarded = redis_conn.guarded
text = redis_conn.text


async def run(script: AsyncScript, operation: str, keys: Sequence[str], args: Sequence[object]) -> Any:
    """Run a registered script (EVALSHA, reloaded after a restart) and fail closed on any Redis error."""
    async with redis_conn.guarded(operation):
        return await script(keys=list(keys), args=[redis_conn.text(arg) for arg in args])


def register(redis: aioredis.Redis, body: str) -> AsyncScript:
    """A queue script: the shared prelude plus `body`."""
    return redis.register_script(PRELUDE + body)


PRELUDE = r"""
local K_SEQ, K_PENDING, K_DELAYED, K_RUNNING, K_REPO = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_LEASE, K_JOB, K_DEAD, K_FENCE, K_BELL = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local K_AUDIT, K_PUB, K_ID = KEYS[11], KEYS[12], KEYS[13]
local LEASE_FIELDS = {'token', 'fence', 'deadline', 'claim', 'ticket', 'head', 'waited', 'yielded'}
local JOB_FIELDS = {'head', 'attempts', 'rerun', 'error', 'since'}

local function fmt(x) return string.format('%d', x) end
local function clock()
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  return us, math.floor(us / 1000)
end
local function repo_of(job) return string.match(job, '^([^#]+)#%d+$') end
local function jget(job, f) return redis.call('HGET', K_JOB, job .. '|' .. f) end
local function jset(job, f, v) redis.call('HSET', K_JOB, job .. '|' .. f, v) end
local function jdel(job, f) redis.call('HDEL', K_JOB, job .. '|' .. f) end
local function lget(job, f) return redis.call('HGET', K_LEASE, job .. '|' .. f) end
local function ring(n)
  for _ = 1, n do redis.call('LPUSH', K_BELL, '1') end
  redis.call('LTRIM', K_BELL, 0, 63)
end
local function audit(us, cap, ...)
  redis.call('XADD', K_AUDIT, 'MAXLEN', '~', cap, '*', 'at', fmt(us), ...)
end
local function holds(job, token, fence)
  return lget(job, 'token') == token and redis.call('HGET', K_FENCE, job) == fence
end
-- A slot is what the limits count: K_REPO per repository, their sum globally. A job keeps its lease (its
-- entry in K_RUNNING) after giving its slot back (`yielded`), until it finishes.
local function free_slot(job)
  local repo = repo_of(job)
  if redis.call('HINCRBY', K_REPO, repo, -1) <= 0 then redis.call('HDEL', K_REPO, repo) end
end
local function slots_taken()
  local n = 0
  for _, v in ipairs(redis.call('HVALS', K_REPO)) do n = n + tonumber(v) end
  return n
end
local function release(job)
  redis.call('ZREM', K_RUNNING, job)
  if not lget(job, 'yielded') then free_slot(job) end
  for _, f in ipairs(LEASE_FIELDS) do redis.call('HDEL', K_LEASE, job .. '|' .. f) end
end
local function to_pending(job, ticket)
  redis.call('ZADD', K_PENDING, ticket or redis.call('INCR', K_SEQ), job)
  -- When it got in line (kept while it waits, whatever brings it back), for the queue-wait metric.
  if not jget(job, 'since') then jset(job, 'since', fmt(select(2, clock()))) end
end
local function to_dead(job, ms, err)
  redis.call('ZADD', K_DEAD, ms, job)
  if err ~= '' then jset(job, 'error', err) end
end
local function rerun(job)
  if not jget(job, 'rerun') then return false end
  jdel(job, 'rerun')
  jset(job, 'attempts', 0)
  to_pending(job, nil)
  return true
end
-- A lease that ended unrenewed is a crashed holder: the job goes back in line (its old ticket) or dies.
local function reap(us, ms, n, max_attempts, cap)
  local expired = redis.call('ZRANGEBYSCORE', K_RUNNING, '-inf', ms, 'LIMIT', 0, n)
  for _, job in ipairs(expired) do
    local token, ticket = lget(job, 'token'), lget(job, 'ticket')
    release(job)
    local attempts = redis.call('HINCRBY', K_JOB, job .. '|attempts', 1)
    if not rerun(job) then
      if attempts >= max_attempts then to_dead(job, ms, 'lease expired') else to_pending(job, ticket) end
    end
    audit(us, cap, 'event', 'expired', 'job', job, 'token', token or '')
  end
  if #expired > 0 then ring(#expired) end
  return expired
end
local function promote(ms, n)
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', ms, 'LIMIT', 0, n)
  for _, job in ipairs(due) do
    redis.call('ZREM', K_DELAYED, job)
    to_pending(job, nil)
  end
  return #due
end
"""

ENQUEUE = r"""
local job, head, ttl = ARGV[1], ARGV[2], ARGV[3]
if K_ID and not redis.call('SET', K_ID, '1', 'NX', 'EX', ttl) then return 'duplicate_delivery' end
local known = jget(job, 'head')
if head == '' then
  -- A nudge: look at the PR again, keeping the head the queue knows (the publish gate compares with it).
  if redis.call('ZSCORE', K_RUNNING, job) then
    jset(job, 'rerun', '1')
    return 'rerun_marked'
  end
  if redis.call('ZSCORE', K_PENDING, job) or redis.call('ZSCORE', K_DELAYED, job)
    or redis.call('ZSCORE', K_DEAD, job) then return 'unchanged' end
  head = known or ''
end
if redis.call('ZSCORE', K_RUNNING, job) then
  if known == head then return 'unchanged' end
  jset(job, 'head', head)
  jset(job, 'rerun', '1')
  return 'rerun_marked'
end
if redis.call('ZSCORE', K_PENDING, job) or redis.call('ZSCORE', K_DELAYED, job) then
  if known == head then return 'unchanged' end
  jset(job, 'head', head)
  return 'updated_in_place'
end
if redis.call('ZSCORE', K_DEAD, job) then
  if known == head then return 'unchanged' end
  redis.call('ZREM', K_DEAD, job)
  jdel(job, 'error')
end
jset(job, 'head', head)
jset(job, 'attempts', 0)
to_pending(job, nil)
ring(1)
return 'queued'
"""

# ARGV: claim_id, token, lease_ms, max_hold_ms, max_global, max_repo, scan_n, max_attempts, audit_cap,
# oldest_first_ms, window
CLAIM = r"""
local claim_id, token = ARGV[1], ARGV[2]
local lease_ms, max_hold = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_global, max_repo = tonumber(ARGV[5]), tonumber(ARGV[6])
local scan_n, max_attempts, cap = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local oldest_first_ms, window = tonumber(ARGV[10]), tonumber(ARGV[11])
local function reply(job)
  return {1, job, lget(job, 'head'), jget(job, 'attempts') or '0', lget(job, 'ticket'), lget(job, 'token'),
          lget(job, 'fence'), redis.call('ZSCORE', K_RUNNING, job), lget(job, 'deadline'),
          lget(job, 'waited') or '0'}
end
local served = redis.call('GET', K_ID)
if served then
  if lget(served, 'claim') == claim_id then return reply(served) end
  return {0, -1}
end
local us, ms = clock()
reap(us, ms, scan_n, max_attempts, cap)
promote(ms, scan_n)
local function grant(job)
  local ticket = redis.call('ZSCORE', K_PENDING, job)
  redis.call('ZREM', K_PENDING, job)
  local fence = math.max(tonumber(redis.call('HGET', K_FENCE, job) or '0') + 1, us)
  redis.call('HSET', K_FENCE, job, fmt(fence))
  local deadline = ms + max_hold
  redis.call('ZADD', K_RUNNING, math.min(ms + lease_ms, deadline), job)
  redis.call('HINCRBY', K_REPO, repo_of(job), 1)
  jdel(job, 'rerun')
  local waited = ms - tonumber(jget(job, 'since') or ms)
  jdel(job, 'since')
  redis.call('HSET', K_LEASE, job .. '|token', token, job .. '|fence', fmt(fence),
             job .. '|deadline', fmt(deadline), job .. '|claim', claim_id, job .. '|ticket', ticket,
             job .. '|head', jget(job, 'head') or '', job .. '|waited', fmt(math.max(0, waited)))
  redis.call('SET', K_ID, job, 'PX', max_hold)
  audit(us, cap, 'event', 'claim', 'job', job, 'token', token, 'fence', fmt(fence))
  return reply(job)
end
-- admission.pick_next over the first scan_n waiting jobs, `window` at a time (the first window with a job
-- that may start decides): of those whose repository has room, the oldest once it has waited
-- oldest_first_ms, else the oldest of the repository with the most jobs waiting in the window. (A waiting
-- job is never running too: grant takes it out of line; the check below only guards the pick.)
if slots_taken() < max_global then
  local room, offset = {}, 0
  while offset < scan_n do
    local page = redis.call('ZRANGE', K_PENDING, offset, math.min(offset + window, scan_n) - 1)
    if #page == 0 then break end
    local waiting, repos = {}, {}
    for i, job in ipairs(page) do
      local repo = repo_of(job)
      repos[i] = repo
      if room[repo] == nil then
        room[repo] = tonumber(redis.call('HGET', K_REPO, repo) or '0') < max_repo
      end
      waiting[repo] = (waiting[repo] or 0) + 1
    end
    local oldest, overdue, best, most = nil, false, nil, 0
    for i, job in ipairs(page) do
      local repo = repos[i]
      if room[repo] and (oldest == nil or waiting[repo] > most)
          and not redis.call('ZSCORE', K_RUNNING, job) then
        if oldest == nil then
          oldest, overdue = job, ms - tonumber(jget(job, 'since') or ms) >= oldest_first_ms
          if overdue then break end
        end
        best, most = job, waiting[repo]
      end
    end
    if overdue then return grant(oldest) end
    if best then return grant(best) end
    offset = offset + window
  end
end
local wake = -1
for _, k in ipairs({K_DELAYED, K_RUNNING}) do
  local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
  if first[2] then
    local w = math.max(0, tonumber(first[2]) - ms)
    if wake < 0 or w < wake then wake = w end
  end
end
return {0, wake}
"""

# ARGV: job, token, fence, outcome, error, delay_ms, max_attempts, scan_n, audit_cap
FINISH = r"""
local job, token, fence, outcome, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local delay_ms, max_attempts, scan_n, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local previous = redis.call('GET', K_ID)
if previous then return previous end
local us, ms = clock()
reap(us, ms, scan_n, max_attempts, cap)
if not holds(job, token, fence) then return 'not_held' end
release(job)
local result
if rerun(job) then
  result = 'requeued'
elseif outcome == 'done' then
  for _, f in ipairs(JOB_FIELDS) do jdel(job, f) end
  result = 'done'
elseif outcome == 'defer' then
  redis.call('ZADD', K_DELAYED, ms + delay_ms, job)
  if err ~= '' then jset(job, 'error', err) end
  result = 'delayed'
else
  local attempts = redis.call('HINCRBY', K_JOB, job .. '|attempts', 1)
  if outcome == 'retry' and attempts < max_attempts then
    redis.call('ZADD', K_DELAYED, ms + delay_ms, job)
    if err ~= '' then jset(job, 'error', err) end
    result = 'delayed'
  else
    to_dead(job, ms, err)
    result = 'dead'
  end
end
ring(1)
audit(us, cap, 'event', 'finish', 'job', job, 'token', token, 'result', result)
redis.call('SET', K_ID, result, 'EX', 3600)
return result
"""

# ARGV: scan_n, max_attempts, audit_cap
REAP = r"""
local us, ms = clock()
local expired = reap(us, ms, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
local promoted = promote(ms, tonumber(ARGV[1]))
if promoted > 0 then ring(promoted) end
return expired
"""

# ARGV: job
REQUEUE_DEAD = r"""
local job = ARGV[1]
if not redis.call('ZSCORE', K_DEAD, job) then return 0 end
redis.call('ZREM', K_DEAD, job)
jset(job, 'attempts', 0)
jdel(job, 'error')
to_pending(job, nil)
ring(1)
return 1
"""

# ARGV: job, actor, audit_cap
CANCEL = r"""
local job, actor, cap = ARGV[1], ARGV[2], ARGV[3]
local us = clock()
local was, token = nil, ''
if redis.call('ZSCORE', K_RUNNING, job) then
  -- Fence the holder out in the same step as the release: its renew, gate, saves and finish all refuse.
  token = lget(job, 'token') or ''
  redis.call('HSET', K_FENCE, job, fmt(math.max(tonumber(redis.call('HGET', K_FENCE, job) or '0') + 1, us)))
  release(job)
  ring(1)
  was = 'running'
else
  for _, k in ipairs({K_PENDING, K_DELAYED, K_DEAD}) do
    if redis.call('ZREM', k, job) == 1 then was = 'queued' end
  end
end
if not was then return 'not_found' end
for _, f in ipairs(JOB_FIELDS) do jdel(job, f) end
audit(us, cap, 'event', 'cancel', 'job', job, 'was', was, 'token', token, 'actor', actor)
if was == 'running' then return 'revoked' end
return 'removed'
"""
