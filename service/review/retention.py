"""Retention: personal data (phone, client address, user agent) of decided comments is erased
after `retention_days`; text, labels and scores stay, because retraining needs them.

Runs as a background task of the service (every `retention_sweep_seconds`) and as
`duyet retention run` for cron-minded operators. Safe to run concurrently: each erase is one
Lua script over a to-do zset.
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


def cutoff_ms(days: float, now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - int(days * 86400 * 1000)


async def run(redis: Redis, keys: Keys, scripts: Scripts, days: float, now_ms: int | None = None) -> int:
    """Erase personal data of comments decided more than `days` ago; how many were erased."""
    return await erase_personal_data(redis, keys, scripts, cutoff_ms(days, now_ms))


async def loop(redis: Redis, keys: Keys, scripts: Scripts, days: float, every_s: float, bg: Background) -> None:
    """The service's background task: run, sleep, repeat; store errors are logged, never fatal."""
    while bg.running:
        try:
            erased = await run(redis, keys, scripts, days)
            if erased:
                log.info("retention: erased personal data of %d decided comments", erased)
        except RedisError as exc:
            log.warning("retention run failed: %s", type(exc).__name__)
        await bg.pause(every_s)
