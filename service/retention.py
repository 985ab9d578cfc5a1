"""Retention: personal data (phone, client address, user agent) of decided comments is erased
after `retention_days`; text, labels and scores stay, because retraining needs them.

Runs as a background task of the service (every `retention_sweep_seconds`) and as
`duyet retention run` for cron-minded operators. Safe to run concurrently: each erase is one
Lua script over a to-do zset.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service import queue
from service.keys import Keys
from service.scripts import Scripts
from service.tasks import Background

log = logging.getLogger(__name__)


def cutoff_ms(days: float, now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - int(days * 86400 * 1000)


async def run(redis: Redis, keys: Keys, scripts: Scripts, days: float, now_ms: int | None = None) -> int:
    """Erase personal data of comments decided more than `days` ago; how many were erased."""
    return await queue.erase_personal_data(redis, keys, scripts, cutoff_ms(days, now_ms))


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


def add_retention_parser(sub: Any) -> None:
    from service.cli import add_common

    parser = sub.add_parser("retention", help="erase personal data of old decided comments")
    actions = parser.add_subparsers(dest="action", required=True)
    run_p = actions.add_parser("run", help="erase now (DUYET_RETENTION_DAYS, default 30)")
    run_p.add_argument("--days", type=float, default=None, help="override DUYET_RETENTION_DAYS")
    add_common(run_p)
    for p in (parser, run_p):
        p.set_defaults(func=cmd_retention)


def cmd_retention(args: argparse.Namespace) -> int:
    from service.cli import run_with_redis, settings_from_args

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)
    days = settings.retention_days if args.days is None else args.days

    async def main(redis: Redis) -> int:
        erased = await run(redis, keys, Scripts(redis), days)
        print(f"erased personal data of {erased} comment(s) decided more than {days:g} day(s) ago")
        return 0

    return run_with_redis(settings, main)
