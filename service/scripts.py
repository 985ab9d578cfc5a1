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


class Scripts:
    """Scripts registered with redis-py (EVALSHA, falling back to EVAL after a server restart)."""

    def __init__(self, redis: Redis) -> None:
        self._ratelimit = redis.register_script(RATELIMIT)

    @staticmethod
    async def _run(script: Any, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        return await script(keys=keys, args=args, client=redis)

    async def ratelimit(self, redis: Redis, key: str, window_ms: int) -> tuple[int, int]:
        count, ttl = await self._run(self._ratelimit, redis, [key], [window_ms])
        return int(count), int(ttl)
