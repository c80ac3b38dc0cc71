"""The Lua scripts the Redis cache runs atomically on the server (one key each, so any cluster slot)."""

from __future__ import annotations

from typing import Final

# Delete the lock only if it still holds our token, so a holder whose lock expired cannot free another's.
RELEASE_LOCK: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


# Advance a revocation mark: a millisecond instant of the server's clock, above the mark it replaces.
BUMP_STAMP: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local stamp = math.max(current + 1, now)
redis.call('SET', KEYS[1], string.format('%d', stamp), 'EX', tonumber(ARGV[1]))
return string.format('%d', stamp)
"""

# Compare and set: store ARGV[2] only while the key holds the value whose SHA-1 is ARGV[1] ('' = absent).
REPLACE: Final = """
local current = redis.call('GET', KEYS[1])
if current then
    if ARGV[1] ~= redis.sha1hex(current) then return 0 end
elseif ARGV[1] ~= '' then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""

# A token bucket ("<tokens> <updated>") refilled continuously by the server's clock; answers the seconds
# to wait, "0" when the cost was taken.
SPEND: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, updated = capacity, now
local value = redis.call('GET', KEYS[1])
if value then
    local space = string.find(value, ' ')
    tokens, updated = tonumber(string.sub(value, 1, space - 1)), tonumber(string.sub(value, space + 1))
end
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('SET', KEYS[1], string.format('%.6f %.6f', tokens, now), 'EX', math.ceil(capacity / rate) + 1)
return string.format('%.6f', wait)
"""
