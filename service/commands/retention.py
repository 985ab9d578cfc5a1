"""`duyet retention run`: erase personal data of old comments, trim the decision audit."""

from __future__ import annotations

import argparse
from typing import Any

from redis.asyncio import Redis

from service.review.retention import run, trim_audit
from service.store.keys import Keys
from service.store.scripts import Scripts


def add_retention_parser(sub: Any) -> None:
    from service.commands.common import add_common

    parser = sub.add_parser("retention", help="erase personal data of old comments, trim the decision audit")
    actions = parser.add_subparsers(dest="action", required=True)
    run_p = actions.add_parser("run", help="erase now (DUYET_RETENTION_DAYS, default 30)")
    run_p.add_argument("--days", type=float, default=None, help="override DUYET_RETENTION_DAYS")
    add_common(run_p)
    for p in (parser, run_p):
        p.set_defaults(func=cmd_retention)


def cmd_retention(args: argparse.Namespace) -> int:
    from service.commands.common import run_with_redis, settings_from_args

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)
    days = settings.retention_days if args.days is None else args.days

    async def main(redis: Redis) -> int:
        erased = await run(redis, keys, Scripts(redis), days)
        print(f"erased personal data of {erased} comment(s) decided or submitted more than {days:g} day(s) ago")
        dropped = await trim_audit(redis, keys, settings.audit_retention_days)
        print(f"dropped {dropped} decision audit entries older than {settings.audit_retention_days:g} day(s)")
        return 0

    return run_with_redis(settings, main)
