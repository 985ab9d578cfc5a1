"""The checks a submission passes before it is scored, in one round trip to the store.

Bans (the client, its network, the phone), the rate limits (per client, per article), the captcha
answer and the repeat marker of an earlier copy are independent reads (and two counters), so they
go out together as one pipeline (service.store.scripts.Batch) and are judged afterwards, in the
order a reader would want to learn about them: banned, then rate limited, then a wrong captcha.
Each command touches one slot, so the batch also runs on Redis Cluster (redis-py splits it by node).

Sent together, every check runs whatever the others say: a banned or rate-limited client's
submission still counts towards its limits, and a wrong answer still spends its captcha (one
guess per captcha, as always). A right answer is never spent here; the submission script
consumes it with the write (service.review.intake).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from service.captcha.captchas import Checked
from service.store.keys import Keys
from service.store.ratelimit import subject_of
from service.store.scripts import Batch, Scripts


@dataclass(frozen=True, slots=True)
class Limit:
    """One rate limit to count the submission against."""

    bucket: str  # "submit-client" / "submit-article"
    subject: str
    limit: int
    window_s: int


@dataclass(frozen=True, slots=True)
class Admission:
    banned: bool
    limited: tuple[Limit, int] | None  # the first limit exceeded, and seconds until it reopens
    captcha: int | None  # CAPTCHA_CHECK's answer (1 right, 0 gone, -1 wrong); None when not asked
    repeat_of: str | None  # the first comment of this (client, text) pair, if any


async def admit(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    *,
    ban_keys: list[str],
    limits: list[Limit],
    captcha: Checked | None,
    repeat_keys: list[str],
) -> Admission:
    """All the checks in one round trip (see the module docstring); limits of 0 are off."""
    counted = [limit for limit in limits if limit.limit > 0]

    def build(batch: Batch) -> None:
        batch.pipe.exists(*ban_keys)
        for limit in counted:
            scripts.batch_ratelimit(
                batch, keys.ratelimit(limit.bucket, subject_of(limit.subject)), limit.window_s * 1000
            )
        if captcha is not None:
            scripts.batch_captcha_check(batch, captcha.key, captcha.digest)
        for key in repeat_keys:
            batch.pipe.get(key)

    replies = await scripts.batch(redis, build)
    banned = bool(replies[0])
    limited = None
    for limit, (count, ttl_ms) in zip(counted, replies[1 : 1 + len(counted)], strict=True):
        if int(count) > limit.limit:
            limited = (limit, max(1, -(-int(ttl_ms) // 1000)))
            break
    rest = replies[1 + len(counted) :]
    found = None
    if captcha is not None:
        found, rest = int(rest[0]), rest[1:]
    repeat_of = next((str(marker) for marker in rest if marker), None)
    return Admission(banned, limited, found, repeat_of)
