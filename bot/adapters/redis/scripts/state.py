"""The PR record scripts (Redis 6.2 Lua): a fenced compare-and-set of the record, and its audit trail."""

# KEYS: fence hash, record hash. ARGV: job, expected_version, fence, then field/value pairs.
SAVE_RECORD = r"""
local job, expected, fence = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if (redis.call('HGET', KEYS[1], job) or '0') ~= fence then return 0 end
local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
local same = redis.call('HGET', KEYS[2], 'fence') == fence
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) ~= ARGV[i + 1] then same = false end
end
if version == expected + 1 and same then return 1 end
if version ~= expected then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'version', expected + 1, 'fence', fence)
return 1
"""

# KEYS: fence hash, audit list. ARGV: job, fence, entry, cap
APPEND_AUDIT = r"""
if (redis.call('HGET', KEYS[1], ARGV[1]) or '0') ~= ARGV[2] then return 0 end
if redis.call('LINDEX', KEYS[2], -1) == ARGV[3] then return 1 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
return 1
"""

# KEYS: audit list. ARGV: entry, cap. An unfenced note (`StateStore.append_note`).
APPEND_NOTE = r"""
if redis.call('LINDEX', KEYS[1], -1) == ARGV[1] then return 1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return 1
"""
