"""`duyet bans`: ban client addresses or phone numbers."""

from __future__ import annotations

import argparse
import time
from typing import Any

from redis.asyncio import Redis

from service import errors
from service.review.bans import (
    BanKind,
    add,
    list_active,
    remove,
    resolve_value,
)
from service.store.keys import Keys


def add_bans_parser(sub: Any) -> None:
    from service.commands.common import add_common

    parser = sub.add_parser("bans", help="ban client addresses or phone numbers from submitting")
    actions = parser.add_subparsers(dest="action", required=True)
    add_p = actions.add_parser("add", help="ban an address, a /24 or /64 network, or a phone number")
    add_p.add_argument("kind", choices=[k.value for k in BanKind])
    add_p.add_argument("value", help="an IP address or network, or an E.164 phone number")
    add_p.add_argument("--ttl", type=int, default=7 * 86400, help="seconds (default 7 days)")
    add_p.add_argument("--reason", default="")
    ls = actions.add_parser("list", help="list active bans")
    rm = actions.add_parser("remove", help="lift a ban")
    rm.add_argument("kind", choices=[k.value for k in BanKind])
    rm.add_argument("value", help="as shown by `duyet bans list` (or the phone number)")
    for p in (add_p, ls, rm):
        add_common(p)
    for p in (parser, add_p, ls, rm):
        p.set_defaults(func=cmd_bans)


def cmd_bans(args: argparse.Namespace) -> int:
    from service.commands.common import run_with_redis, settings_from_args

    settings = settings_from_args(args)
    keys = Keys(settings.key_prefix, settings.partitions)

    async def main(redis: Redis) -> int:
        try:
            if args.action == "add":
                kind = BanKind(args.kind)
                ban = await add(
                    redis,
                    keys,
                    kind,
                    resolve_value(kind, args.value, settings.secret_bytes, settings.phone_region),
                    args.ttl,
                    "cli",
                    args.reason,
                )
                print(f"banned {ban.kind.value} {ban.value} for {args.ttl} s")
            elif args.action == "list":
                for ban in await list_active(redis, keys):
                    left = max(0, (ban.expires_at_ms - int(time.time() * 1000)) // 1000)
                    print(f"{ban.kind.value}\t{ban.value}\t{left} s left\t{ban.by}\t{ban.reason}")
            elif args.action == "remove":
                kind = BanKind(args.kind)
                await remove(
                    redis, keys, kind, resolve_value(kind, args.value, settings.secret_bytes, settings.phone_region)
                )
                print("ban lifted")
        except errors.DuyetError as exc:
            print(f"duyet: {exc.message}")
            return 1
        return 0

    return run_with_redis(settings, main)
