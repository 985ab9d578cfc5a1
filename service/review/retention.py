"""Retention: personal data (phone, client address, user agent) is erased after `retention_days`,
from decided comments (counted from the decision) and from comments still waiting for one
(counted from the submission: a queue nobody works is no reason to keep a reader's phone); text,
labels and scores stay, because retraining needs them, and an undecided comment stays reviewable.
The decision audit stream is trimmed to `audit_retention_days` (it holds moderators' names and
every state change, no personal data of readers, but it is not kept for ever either).

Runs as a background task of the service (every `retention_sweep_seconds`) and as
`duyet retention run` for cron-minded operators. Safe to run concurrently: each erase is one
Lua script over a to-do zset (decided) or from a mark in the open zset (undecided).
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.review.transitions import erase_personal_data
from service.store.keys import Keys
from service.store.scripts import Scripts
from service.tasks import Background

log = logging.getLogger(__name__)

BATCH = 500  # comments one script call erases at most: the store serves others between calls


def cutoff_ms(days: float, now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - int(days * 86400 * 1000)


async def erase_undecided(redis: Redis, keys: Keys, scripts: Scripts, cutoff: int, batch: int = BATCH) -> int:
    """Erase personal data of undecided comments submitted at or before `cutoff` (ms); how many."""
    total = 0
    for p in range(keys.partitions):
        more = True
        while more:
            erased, more = await scripts.queue_erase_open_pii(
                redis, [keys.open(p), keys.pii_open_mark(p)], [keys.comment_prefix(p), cutoff, batch]
            )
            total += erased
    return total


async def run(redis: Redis, keys: Keys, scripts: Scripts, days: float, now_ms: int | None = None) -> int:
    """Erase personal data of comments decided, or submitted and still undecided, more than `days`
    ago; how many comments were erased."""
    cutoff = cutoff_ms(days, now_ms)
    decided = await erase_personal_data(redis, keys, scripts, cutoff)
    return decided + await erase_undecided(redis, keys, scripts, cutoff)


async def trim_audit(redis: Redis, keys: Keys, days: float, now_ms: int | None = None) -> int:
    """Drop decision audit entries older than `days` (approximately: whole stream nodes, which is
    cheap; a few entries past the limit may stay until the next run); how many were dropped.
    A comment's history then starts at its oldest kept entry."""
    minid = f"{max(cutoff_ms(days, now_ms), 0)}-0"
    dropped = 0
    for p in range(keys.partitions):
        dropped += int(await redis.xtrim(keys.decisions(p), minid=minid, approximate=True))
    return dropped


async def loop(
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    days: float,
    every_s: float,
    bg: Background,
    audit_days: float | None = None,
) -> None:
    """The service's background task: run (and trim the audit to `audit_days`, when given), sleep,
    repeat; store errors are logged, never fatal."""
    while bg.running:
        try:
            erased = await run(redis, keys, scripts, days)
            if erased:
                log.info("retention: erased personal data of %d comments", erased)
            if audit_days is not None:
                dropped = await trim_audit(redis, keys, audit_days)
                if dropped:
                    log.info("retention: dropped %d decision audit entries", dropped)
        except RedisError as exc:
            log.warning("retention run failed: %s", type(exc).__name__)
        await bg.pause(every_s)
