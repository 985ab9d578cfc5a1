"""Per-subject rate limits in Redis (a fixed window per key, atomic INCR + EXPIRE in one script)."""

from __future__ import annotations

from redis.asyncio import Redis

from service.errors import RateLimited
from service.store.keys import Keys
from service.store.scripts import Scripts


async def hit(redis: Redis, scripts: Scripts, keys: Keys, bucket: str, subject: str, limit: int, window_s: int) -> None:
    """Count one request of `subject` in `bucket`; raise RateLimited(retry_after) beyond `limit`."""
    if limit <= 0:
        return
    count, ttl_ms = await scripts.ratelimit(redis, keys.ratelimit(bucket, subject), window_s * 1000)
    if count > limit:
        raise RateLimited(retry_after=max(1, -(-ttl_ms // 1000)))
