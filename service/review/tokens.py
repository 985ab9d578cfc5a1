"""Bearer secrets (portal keys, moderator tokens): random, prefixed, stored only as SHA-256 digests.

A token is 256 random bits, so a plain SHA-256 is enough (no salt or slow hash needed), and a
digest index (digest -> account name) finds its account in one lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from redis.asyncio import Redis

T = TypeVar("T")
MAX_LENGTH = 100


def new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)  # 32 bytes = 256 bits


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def find(
    redis: Redis,
    index_key: str,
    accounts_key: str,
    token: str,
    *,
    prefix: str,
    field: str,
    parse: Callable[[str, str], tuple[T, dict[str, Any]]],
) -> T | None:
    """The account `token` belongs to, or None.

    `index_key` maps digests to names, `accounts_key` names to account JSON (parsed by `parse`),
    whose `field` holds the digest."""
    if not token.startswith(prefix) or len(token) > MAX_LENGTH:
        return None
    wanted = digest(token)
    name: Any = await redis.hget(index_key, wanted)
    if name is None:
        return None
    raw: Any = await redis.hget(accounts_key, name)
    if raw is None:
        return None
    account, data = parse(name, raw)
    # Found by digest; compare again in constant time so a stale index entry never counts.
    if not hmac.compare_digest(str(data[field]), wanted):
        return None
    return account
