"""Paging through a sorted set with a cursor that stays right while the set changes.

A cursor is the (score, member) of the last row shown; the next page starts strictly after it,
so rows added or removed meanwhile never shift a page (an offset would), and ties on the score
are broken by the member.
"""

from __future__ import annotations

import math
from typing import Any

from redis.asyncio import Redis

from service import errors


def encode_cursor(score: float, member: str) -> str:
    return f"{score!r}~{member}"


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    score, sep, member = cursor.partition("~")
    try:
        value = float(score)
        if not sep or math.isnan(value):  # the store refuses NaN as a score: a 500 otherwise
            raise ValueError(cursor)
        return value, member
    except ValueError:
        raise errors.BadRequest("invalid cursor", code="invalid_cursor") from None


async def zrange_after(
    redis: Redis, key: str, after: tuple[float, str] | None, count: int, *, desc: bool
) -> list[tuple[str, float]]:
    """Up to `count` members strictly after `after` in (score, member) order: stable under ties."""
    top, bottom = ("+inf", "-inf") if desc else ("-inf", "+inf")
    if after is None:
        raw: Any = await redis.zrange(key, top, bottom, byscore=True, desc=desc, offset=0, num=count, withscores=True)
        return [(str(m), float(s)) for m, s in raw]
    score, member = after
    ties = int(await redis.zcount(key, score, score))
    raw = await redis.zrange(key, score, bottom, byscore=True, desc=desc, offset=0, num=count + ties, withscores=True)
    rows = [(str(m), float(s)) for m, s in raw]
    if desc:
        kept = [(m, s) for m, s in rows if s < score or (s == score and m < member)]
    else:
        kept = [(m, s) for m, s in rows if s > score or (s == score and m > member)]
    return kept[:count]
