"""Every Lua script, in one place, registered once per app.

Each script starts with a header naming its KEYS and ARGV, touches only keys that share one
hash tag (so it runs on Redis Cluster), and is wrapped by a method that turns its return codes
into Python values or domain exceptions.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

RATELIMIT = """
-- KEYS[1] = rate-limit counter
-- ARGV[1] = window length in ms
-- returns {count in this window, ms until the window ends}
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


# --------------------------------------------------------------------------- review queue
# Every queue script reads the clock with TIME (effects replication, Redis >= 7), so all
# replicas of the service agree on lease expiry. Scripts that walk a zset build comment hash
# keys from the partition's comment prefix: those keys share the partition's hash tag (same slot).

QUEUE_ENQUEUE = """
-- KEYS[1] = comment hash, KEYS[2] = pending zset, KEYS[3] = open zset (by age),
-- KEYS[4] = decisions stream, KEYS[5] = idempotency key (optional)
-- ARGV[1] = comment id, ARGV[2] = priority score, ARGV[3] = created_at ms,
-- ARGV[4] = idempotency ttl s, ARGV[5] = model version, ARGV[6] = spam probability,
-- ARGV[7..] = field, value pairs of the comment hash
-- returns {id, 1} when written, {existing id, 0} when the idempotency key already named one,
-- {'', -1} when the id is taken (a caller bug: ids are random)
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {existing, 0} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'', -1} end
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'state', 'pending', 'version', 1, 'priority', ARGV[2], 'updated_at', now, unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'event', 'submitted', 'id', ARGV[1], 'at', now, 'by', '',
  'from', '', 'to', 'pending', 'version', 1, 'model_version', ARGV[5], 'spam_probability', ARGV[6])
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[4]) end
return {ARGV[1], 1}
"""


class Scripts:
    """Scripts registered with redis-py (EVALSHA, falling back to EVAL after a server restart)."""

    def __init__(self, redis: Redis) -> None:
        self._ratelimit = redis.register_script(RATELIMIT)
        self._queue_enqueue = redis.register_script(QUEUE_ENQUEUE)

    @staticmethod
    async def _run(script: Any, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        return await script(keys=keys, args=args, client=redis)

    async def ratelimit(self, redis: Redis, key: str, window_ms: int) -> tuple[int, int]:
        count, ttl = await self._run(self._ratelimit, redis, [key], [window_ms])
        return int(count), int(ttl)

    async def queue_enqueue(self, redis: Redis, keys: list[str], args: list[Any]) -> tuple[str, int]:
        """See QUEUE_ENQUEUE; `service.queue.enqueue` builds the keys and arguments."""
        found, code = await self._run(self._queue_enqueue, redis, keys, args)
        return str(found), int(code)
