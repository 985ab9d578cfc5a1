"""Per-subject rate limits in Redis (a fixed window per key, atomic INCR + EXPIRE in one script)."""

from __future__ import annotations

import functools
import ipaddress

from redis.asyncio import Redis

from service.errors import RateLimited
from service.store.keys import Keys
from service.store.scripts import Scripts

IPV6_BLOCK = 64  # one subscriber's allocation, as bans count it (service.review.bans)


@functools.lru_cache(maxsize=4096)  # asked on every submission; parsing an address is the slow part
def subject_of(subject: str) -> str:
    """The rate-limited subject: an IPv6 client counts as its /64, since one subscriber holds the
    whole block and could otherwise rotate through 2^64 addresses; anything else as given."""
    try:
        ip = ipaddress.ip_address(subject)
    except ValueError:
        return subject
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_BLOCK}", strict=False))
    return str(ip)


async def hit(redis: Redis, scripts: Scripts, keys: Keys, bucket: str, subject: str, limit: int, window_s: int) -> None:
    """Count one request of `subject` in `bucket`; raise RateLimited(retry_after) beyond `limit`."""
    if limit <= 0:
        return
    count, ttl_ms = await scripts.ratelimit(redis, keys.ratelimit(bucket, subject_of(subject)), window_s * 1000)
    if count > limit:
        raise RateLimited(retry_after=max(1, -(-ttl_ms // 1000)))
